#include "content/oci_tar_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <string_view>

#include "archive/byte_source.h"
#include "archive/tar_reader.h"

namespace hoist::content {
namespace {

// oci-layout, index.json and manifest.json are read into memory; real ones are far smaller.
constexpr int64_t kMaxMetadataSize = 4 << 20;

// Entry names as extraction would resolve them at the archive root: `./x`, `x` and `x/` are
// the same file.
std::string_view NormalizeName(std::string_view name) {
  while (name.starts_with("./")) {
    name.remove_prefix(2);
    while (name.starts_with("/")) name.remove_prefix(1);  // "./" followed by more slashes
  }
  while (name.size() > 1 && name.ends_with("/")) name.remove_suffix(1);
  return name;
}

// `blobs/<alg>/<encoded>` with a valid digest, else nullopt. Digest::Parse validates both
// parts, so nothing with a '/' or a ".." can slip through as an encoded part.
std::optional<oci::Digest> BlobDigestFromName(std::string_view name) {
  if (!name.starts_with("blobs/")) return std::nullopt;
  name.remove_prefix(6);
  size_t slash = name.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view alg = name.substr(0, slash);
  std::string_view encoded = name.substr(slash + 1);
  if (encoded.find('/') != std::string_view::npos) return std::nullopt;
  auto d = oci::Digest::Parse(std::string(alg) + ":" + std::string(encoded));
  if (!d) return std::nullopt;
  return *d;
}

}  // namespace

struct OciTarStore::SharedFile {
  std::mutex mu;
  std::unique_ptr<ReadableFile> file;

  Result<size_t> ReadAt(uint64_t offset, void* buf, size_t n) {
    std::lock_guard<std::mutex> lock(mu);
    return file->ReadAt(offset, buf, n);
  }
};

class OciTarStore::Reader final : public BlobReader {
 public:
  Reader(std::shared_ptr<SharedFile> file, Location loc, oci::Digest digest)
      : file_(std::move(file)), loc_(loc), digest_(std::move(digest)) {}

  Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) override {
    if (offset < 0) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("content {}: negative read offset {}", digest_.str(), offset));
    }
    if (offset >= loc_.size || n == 0) return size_t{0};
    n = static_cast<size_t>(std::min<uint64_t>(n, static_cast<uint64_t>(loc_.size - offset)));
    HOIST_ASSIGN_OR_RETURN(size_t got,
                           file_->ReadAt(loc_.offset + static_cast<uint64_t>(offset), buf, n));
    if (got == 0) {
      // The index said the bytes are there; the file must have shrunk since it was opened.
      return MakeError(Code::kDataLoss,
                       fmt::format("content {}: the tarball ends inside the blob", digest_.str()));
    }
    return got;
  }
  int64_t Size() const override { return loc_.size; }

 private:
  std::shared_ptr<SharedFile> file_;
  Location loc_;
  oci::Digest digest_;
};

namespace {

Result<std::string> ReadRange(ReadableFile* file, uint64_t offset, int64_t size) {
  std::string out(static_cast<size_t>(size), '\0');
  size_t have = 0;
  while (have < out.size()) {
    HOIST_ASSIGN_OR_RETURN(size_t got,
                           file->ReadAt(offset + have, out.data() + have, out.size() - have));
    if (got == 0) return MakeError(Code::kDataLoss, "unexpected end of file");
    have += got;
  }
  return out;
}

}  // namespace

OciTarStore::OciTarStore(std::shared_ptr<SharedFile> file, std::string display_name)
    : file_(std::move(file)), display_name_(std::move(display_name)) {}

OciTarStore::~OciTarStore() = default;

Result<std::unique_ptr<OciTarStore>> OciTarStore::Open(std::unique_ptr<ReadableFile> file,
                                                       std::string display_name) {
  auto wrap = [&display_name](Error e) { return Unexpected(std::move(e).Wrap(display_name)); };

  // Random access needs the tar itself; say so instead of failing on a "bad checksum".
  char head[512];
  size_t head_len = 0;
  while (head_len < sizeof(head)) {
    auto got = file->ReadAt(head_len, head + head_len, sizeof(head) - head_len);
    if (!got) return wrap(got.error());
    if (*got == 0) break;
    head_len += *got;
  }
  if (head_len == 0) {
    return MakeError(Code::kInvalidArgument,
                     display_name + " is not an OCI layout tarball: the file is empty");
  }
  if (archive::DetectCompression(std::string_view(head, head_len)) != archive::Compression::kNone) {
    return MakeError(
        Code::kInvalidArgument,
        display_name + ": compressed OCI tarballs are not supported; decompress it first");
  }

  // One pass over the headers. `entries` maps every name to the data it would have after
  // extraction up to this point, so later entries replace earlier ones and hard links find
  // their target's data.
  std::map<std::string, Location, std::less<>> entries;
  {
    auto source = archive::FileByteSource::Create(file.get());
    if (!source) return wrap(source.error());
    archive::TarReader reader(source->get());
    for (;;) {
      auto next = reader.Next();
      if (!next) return wrap(next.error());
      if (!next->has_value()) break;
      const archive::TarEntry& e = **next;
      std::string name(NormalizeName(e.name));
      switch (e.type) {
        case archive::TarEntryType::kRegular:
          entries[name] = Location{e.data_offset, e.size};
          break;
        case archive::TarEntryType::kHardlink: {
          auto target = entries.find(NormalizeName(e.linkname));
          if (target != entries.end()) {
            Location loc = target->second;
            entries[name] = loc;
          } else {
            entries.erase(name);  // extraction would fail; serve nothing under this name
          }
          break;
        }
        default:
          entries.erase(name);  // a directory, symlink, device... replaces any file
          break;
      }
    }
  }

  auto shared = std::make_shared<SharedFile>();
  shared->file = std::move(file);
  std::unique_ptr<OciTarStore> store(new OciTarStore(shared, display_name));
  auto read_small = [&](std::string_view name) -> Result<std::optional<std::string>> {
    auto it = entries.find(name);
    if (it == entries.end()) return std::optional<std::string>();
    if (it->second.size > kMaxMetadataSize) {
      return MakeError(Code::kInvalidArgument, fmt::format("{}: {} is too large ({} bytes)",
                                                           display_name, name, it->second.size));
    }
    auto data = ReadRange(shared->file.get(), it->second.offset, it->second.size);
    if (!data) return wrap(data.error().Wrap(name));
    return std::optional<std::string>(std::move(*data));
  };
  HOIST_ASSIGN_OR_RETURN(auto oci_layout, read_small("oci-layout"));
  if (!oci_layout) {
    return MakeError(Code::kInvalidArgument,
                     display_name + " is not an OCI layout tarball: it has no oci-layout file");
  }
  HOIST_ASSIGN_OR_RETURN(auto index_json, read_small("index.json"));
  if (!index_json) {
    return MakeError(Code::kInvalidArgument,
                     display_name + " is not an OCI layout tarball: it has no index.json");
  }
  HOIST_ASSIGN_OR_RETURN(store->manifest_json_, read_small("manifest.json"));
  store->oci_layout_ = std::move(*oci_layout);
  store->index_json_ = std::move(*index_json);

  for (const auto& [name, loc] : entries) {
    if (auto d = BlobDigestFromName(name)) store->blobs_[*d] = loc;
  }
  return store;
}

Result<BlobInfo> OciTarStore::Info(const oci::Digest& digest) {
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return Unexpected(BlobNotFound(digest));
  return BlobInfo{digest, it->second.size};
}

Result<std::unique_ptr<BlobReader>> OciTarStore::ReaderAt(const oci::Digest& digest) {
  auto it = blobs_.find(digest);
  if (it == blobs_.end()) return Unexpected(BlobNotFound(digest));
  return std::unique_ptr<BlobReader>(new Reader(file_, it->second, digest));
}

Result<std::unique_ptr<BlobWriter>> OciTarStore::Writer(const std::string& /*ref*/) {
  return MakeError(Code::kPermissionDenied, "OCI layout tarball is read-only");
}

Status OciTarStore::Delete(const oci::Digest& /*digest*/) {
  return MakeError(Code::kPermissionDenied, "OCI layout tarball is read-only");
}

Status OciTarStore::Walk(const std::function<Status(const BlobInfo&)>& fn) {
  for (const auto& [digest, loc] : blobs_) HOIST_TRY(fn(BlobInfo{digest, loc.size}));
  return OkStatus();
}

Result<std::unique_ptr<OciTarStore>> OpenOciTarStore(FileSystem* fs, const std::string& path,
                                                     std::string display_name) {
  if (display_name.empty()) display_name = "OCI layout tarball";
  auto file = fs->OpenForRead(path);
  if (!file) {
    // Keep the system's reason but say which tarball by its display name.
    Error e = std::move(file).error();
    std::string prefix = "open " + path + ": ";
    std::string reason =
        e.message().starts_with(prefix) ? e.message().substr(prefix.size()) : e.message();
    return MakeError(e.code(), display_name + ": cannot open: " + reason);
  }
  return OciTarStore::Open(std::move(*file), std::move(display_name));
}

}  // namespace hoist::content
