#include "exporter/image_archive.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "archive/tar_writer.h"
#include "base/unique_fd.h"
#include "content/local_content_store.h"
#include "oci/image_layout.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::exporter {
namespace {

std::string BlobPath(const oci::Digest& d) {
  return fmt::format("blobs/{}/{}", d.algorithm(), d.encoded());
}

// One tar entry: either literal bytes or a blob streamed from the store.
struct Record {
  std::string name;
  bool directory = false;
  std::string data;
  std::optional<oci::Descriptor> blob;
};

bool IsIndex(std::string_view media_type) {
  return media_type == oci::kMediaTypeImageIndex ||
         media_type == oci::kMediaTypeDockerManifestList;
}

Status WriteRecord(content::ContentStore& store, const Record& r, archive::TarWriter& tar) {
  archive::TarEntry e;
  e.name = r.name;
  if (r.directory) {
    e.type = archive::TarEntryType::kDirectory;
    e.typeflag = '5';
    e.mode = 0755;
    return tar.WriteHeader(e);
  }
  e.type = archive::TarEntryType::kRegular;
  e.typeflag = '0';
  e.mode = 0444;
  if (!r.blob) {
    e.size = static_cast<int64_t>(r.data.size());
    HOIST_TRY(tar.WriteHeader(e));
    return tar.WriteData(r.data);
  }
  e.size = r.blob->size;
  HOIST_TRY(tar.WriteHeader(e));
  // Streamed and verified: a blob that changed under us fails the export naming its digest.
  return content::ReadVerified(store, *r.blob, [&](std::string_view chunk) {
    return tar.WriteData(chunk);
  });
}

Result<std::string> DockerManifestJson(content::ContentStore& store, const oci::Descriptor& root,
                                       const std::vector<content::LayoutName>& names) {
  if (IsIndex(root.media_type)) {
    return MakeError(Code::kInvalidArgument,
                     "docker exporter does not support exporting manifest lists, use the oci "
                     "exporter");
  }
  HOIST_ASSIGN_OR_RETURN(std::string bytes, content::ReadBlob(store, root));
  HOIST_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(bytes));
  nlohmann::json entry;
  entry["Config"] = BlobPath(manifest.config.digest);
  nlohmann::json tags = nlohmann::json::array();
  for (const content::LayoutName& n : names) {
    if (!n.image_name.empty()) tags.push_back(FamiliarName(n.image_name));
  }
  entry["RepoTags"] = tags;
  nlohmann::json layers = nlohmann::json::array();
  for (const oci::Descriptor& l : manifest.layers) layers.push_back(BlobPath(l.digest));
  entry["Layers"] = layers;
  return nlohmann::json::array({entry}).dump();
}

}  // namespace

std::string FamiliarName(std::string_view full_name) {
  std::string_view s = full_name;
  if (s.starts_with("docker.io/")) {
    s.remove_prefix(10);
    if (s.starts_with("library/") && s.substr(8).find('/') == std::string_view::npos) {
      s.remove_prefix(8);
    }
  }
  return std::string(s);
}

Status WriteImageArchive(content::ContentStore& store, const oci::Descriptor& root,
                         const ArchiveOptions& options, archive::ByteSink* out) {
  std::vector<content::VerifyProblem> problems;
  HOIST_ASSIGN_OR_RETURN(std::vector<oci::Descriptor> blobs,
                         content::ReachableFrom(store, {root}, &problems));
  if (!problems.empty()) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("image {}: blob {}: {}", root.digest.str(),
                                 problems[0].digest.str(), problems[0].problem));
  }
  std::vector<Record> records;
  std::map<std::string, bool> dirs;
  dirs["blobs/"] = true;
  for (const oci::Descriptor& b : blobs) {
    const std::string path = BlobPath(b.digest);
    if (std::any_of(records.begin(), records.end(),
                    [&](const Record& r) { return r.name == path; })) {
      continue;
    }
    dirs[fmt::format("blobs/{}/", b.digest.algorithm())] = true;
    records.push_back({.name = path, .blob = b});
  }
  for (const auto& [dir, unused] : dirs) records.push_back({.name = dir, .directory = true});
  records.push_back({.name = "oci-layout", .data = oci::SerializeImageLayout({})});
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeImageIndex);
  index.manifests = content::NamedIndexEntries(root, options.names);
  records.push_back({.name = "index.json", .data = oci::SerializeIndex(index)});
  if (options.format == ArchiveFormat::kDocker) {
    HOIST_ASSIGN_OR_RETURN(std::string manifest_json,
                           DockerManifestJson(store, root, options.names));
    records.push_back({.name = "manifest.json", .data = std::move(manifest_json)});
  }
  std::sort(records.begin(), records.end(),
            [](const Record& a, const Record& b) { return a.name < b.name; });
  archive::TarWriter tar(out);
  for (const Record& r : records) HOIST_TRY(WriteRecord(store, r, tar));
  return tar.Close();
}

namespace {

// Copies the engine's blobs into the layout in the kernel (copy_file_range), without reading
// them through user space and hashing them again: they were verified when they entered the
// engine's store. Each appears only by rename once complete. Blobs already there are kept.
Status CopyBlobsInKernel(content::LocalContentStore& from, const oci::Descriptor& root,
                         const std::string& dir) {
  HOIST_ASSIGN_OR_RETURN(std::vector<oci::Descriptor> blobs,
                         content::ReachableFrom(from, {root}, nullptr));
  for (const oci::Descriptor& b : blobs) {
    const std::string dest_dir = fmt::format("{}/blobs/{}", dir, b.digest.algorithm());
    const std::string dest = dest_dir + "/" + std::string(b.digest.encoded());
    if (::access(dest.c_str(), F_OK) == 0) continue;
    HOIST_TRY(PosixFileSystem()->MakeDirs(dest_dir, 0755));
    UniqueFd in(::open(from.BlobPath(b.digest).c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) continue;  // not in this store (a foreign layer): CopyImage decides
    const std::string tmp = dest + ".hoist-tmp";
    UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444));
    if (!out) return Unexpected(ErrnoError(errno, "create " + tmp));
    int64_t left = b.size;
    while (left > 0) {
      ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr,
                                    static_cast<size_t>(std::min<int64_t>(left, 1 << 30)), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;
        ::unlink(tmp.c_str());
        // Another file system, or none that copies in the kernel: CopyImage streams it.
        if (err == EXDEV || err == EINVAL || err == EOPNOTSUPP || err == ENOSYS) break;
        return Unexpected(ErrnoError(err, fmt::format("copy blob {}", b.digest.str())));
      }
      left -= n;
    }
    if (left > 0) continue;
    if (::fsync(out.get()) != 0 || ::rename(tmp.c_str(), dest.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return Unexpected(ErrnoError(err, fmt::format("write blob {}", b.digest.str())));
    }
  }
  return OkStatus();
}

}  // namespace

Status ExportToLayoutDirectory(FileSystem* fs, content::ContentStore& store,
                               const oci::Descriptor& root,
                               const std::vector<content::LayoutName>& names,
                               const std::string& dir) {
  HOIST_ASSIGN_OR_RETURN(std::unique_ptr<content::OciLayout> layout,
                         content::OciLayout::CreateOrOpen(fs, dir));
  if (auto* local = dynamic_cast<content::LocalContentStore*>(&store); local && fs == PosixFileSystem()) {
    HOIST_TRY(CopyBlobsInKernel(*local, root, dir));
  }
  HOIST_TRY(content::CopyImage(store, layout->store(), root).map([](int64_t) {}));
  return layout->Put(root, names);
}

}  // namespace hoist::exporter
