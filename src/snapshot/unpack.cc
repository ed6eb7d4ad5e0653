#include "snapshot/unpack.h"

#include "content/blob_source.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "archive/layer.h"
#include "base/temp_dir.h"
#include "oci/media_types.h"

namespace hoist::snapshot {
namespace {

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<VerifiedLayer> OpenVerifiedLayer(content::ContentStore& store, const oci::Descriptor& layer,
                                        const oci::Digest& diff_id) {
  auto reader = store.ReaderAt(layer.digest);
  if (!reader) {
    if (reader.error().code() == Code::kNotFound && !layer.urls.empty()) {
      return MakeError(Code::kNotFound, "foreign layer " + layer.digest.str() +
                                            " is not in the store (it lives at " +
                                            layer.urls.front() + ")");
    }
    return Unexpected(std::move(reader).error());
  }
  VerifiedLayer v;
  v.blob = std::make_unique<content::BlobByteSource>(std::move(*reader));
  archive::LayerReaderOptions lopts;
  lopts.expected_digest = layer.digest;
  lopts.expected_size = static_cast<uint64_t>(layer.size);
  lopts.expected_diff_id = diff_id;
  // The engine's store verified the blob when it took it; the DiffID proves what is unpacked.
  lopts.blob_verified = store.VerifiedOnCommit() && diff_id.valid();
  if (auto c = archive::LayerMediaTypeCompression(layer.media_type); c) lopts.compression = *c;
  HOIST_ASSIGN_OR_RETURN(v.tar, archive::LayerReader::Create(v.blob.get(), lopts));
  return v;
}

Result<archive::ApplyStats> ApplyLayerBlob(content::ContentStore& store,
                                           const oci::Descriptor& layer,
                                           const oci::Digest& diff_id, const std::string& root,
                                           const archive::ApplyOptions& options) {
  HOIST_ASSIGN_OR_RETURN(VerifiedLayer v, OpenVerifiedLayer(store, layer, diff_id));
  HOIST_ASSIGN_OR_RETURN(archive::ApplyStats stats, archive::ApplyLayer(*v.tar, root, options));
  // The tar ended at its marker; read the rest so the digests cover the whole blob.
  HOIST_TRY(v.tar->Finish());
  return stats;
}

Result<UnpackStats> UnpackImage(content::ContentStore& store, const content::ResolvedImage& image,
                                const std::string& dest, const UnpackOptions& options) {
  const auto& layers = image.manifest.layers;
  const auto& diff_ids = image.config.rootfs.diff_ids;
  if (layers.size() != diff_ids.size()) {
    return MakeError(Code::kInvalidArgument,
                     "image " + image.manifest_desc.digest.str() + ": config lists " +
                         std::to_string(diff_ids.size()) + " diff IDs for " +
                         std::to_string(layers.size()) + " layers");
  }
  struct stat st;
  if (::lstat(dest.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return MakeError(Code::kAlreadyExists, dest + ": exists");
    if (::rmdir(dest.c_str()) != 0) {
      if (errno == ENOTEMPTY || errno == EEXIST) {
        return MakeError(Code::kAlreadyExists, dest + ": directory is not empty");
      }
      return Unexpected(ErrnoError(errno, "remove empty " + dest));
    }
  }
  HOIST_ASSIGN_OR_RETURN(TempDir work,
                         TempDir::Create("." + BaseName(dest) + ".unpack-", DirName(dest)));
  // mkdtemp makes 0700; the root of an image is 0755 unless a layer says otherwise.
  ::chmod(work.path().c_str(), 0755);

  archive::ApplyOptions aopts;
  aopts.restore_ownership = options.restore_ownership;
  aopts.overlay = options.overlay;
  aopts.root_metadata = options.root_metadata;
  aopts.cancel = options.cancel;
  UnpackStats stats;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (options.cancel != nullptr) HOIST_TRY(options.cancel->Check());
    if (!oci::IsLayerType(layers[i].media_type) && !layers[i].media_type.empty()) {
      return MakeError(Code::kInvalidArgument, "layer " + std::to_string(i + 1) + "/" +
                                                   std::to_string(layers.size()) + " " +
                                                   layers[i].digest.str() +
                                                   ": not a layer media type: " +
                                                   layers[i].media_type);
    }
    auto applied = ApplyLayerBlob(store, layers[i], diff_ids[i], work.path(), aopts);
    if (!applied) {
      return Unexpected(std::move(applied).error().Wrap(
          "layer " + std::to_string(i + 1) + "/" + std::to_string(layers.size()) + " " +
          layers[i].digest.str()));
    }
    stats.layers++;
    stats.compressed_bytes += static_cast<uint64_t>(layers[i].size);
    stats.uncompressed_bytes += applied->bytes_written;
    stats.entries += applied->entries;
    stats.files += applied->files;
    if (options.on_layer) options.on_layer(i, layers[i], *applied);
  }
  if (::rename(work.path().c_str(), dest.c_str()) != 0) {
    return Unexpected(ErrnoError(errno, "rename unpacked tree to " + dest));
  }
  work.Release();
  return stats;
}

}  // namespace hoist::snapshot
