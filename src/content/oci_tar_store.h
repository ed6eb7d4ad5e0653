// OciTarStore: an OCI image layout packed in a tar file (what `docker buildx build --output
// type=oci` and `skopeo copy oci-archive:` write), read in place without unpacking.
//
// Opening makes one pass over the tar headers (bodies are skipped by offset, never read, except
// the small `oci-layout`, `index.json` and `manifest.json`) and indexes every blob entry
// `blobs/<alg>/<encoded>` by digest → (data offset, size). Blob reads are then preads at the
// entry's offset. Entry names may carry a leading `./`; directory entries may be present or not.
// Names that are not exactly `blobs/<alg>/<encoded>` with a valid digest (such as
// `blobs/sha256/../../etc`) never serve a blob. As tar extraction would, a later entry with
// the same name replaces an earlier one; a hard link serves the data of the earlier regular
// entry it names; symbolic links are ignored. The tar must be uncompressed: random access
// needs it, so gzip/zstd/bzip2/xz tarballs are refused with a message saying so.
//
// The store is read-only (Writer and Delete are kPermissionDenied). It does not verify blobs
// on its own: readers see the bytes in the file, and content::ReadVerified checks them.
// Errors name the tarball by the display name the caller gives, never by its path, since the
// path may be a client's private one.
//
// Ownership: the store owns the open file; BlobReaders share it and may outlive the store.
// Thread-safety: thread-safe (the index is immutable after opening; file reads are serialized
// because ReadableFile objects are single-threaded).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "base/file_system.h"
#include "content/content_store.h"
#include "oci/digest.h"

namespace hoist::content {

class OciTarStore final : public ContentStore {
 public:
  // Opens and indexes the tarball in `file`. `display_name` names it in errors.
  static Result<std::unique_ptr<OciTarStore>> Open(std::unique_ptr<ReadableFile> file,
                                                   std::string display_name);

  ~OciTarStore() override;

  // The contents of the `oci-layout` and `index.json` entries (at most 4 MiB each).
  const std::string& oci_layout_file() const { return oci_layout_; }
  const std::string& index_json() const { return index_json_; }
  // The Docker-compatible `manifest.json`, when the tarball has one.
  const std::optional<std::string>& manifest_json() const { return manifest_json_; }
  const std::string& display_name() const { return display_name_; }

  Result<BlobInfo> Info(const oci::Digest& digest) override;
  Result<std::unique_ptr<BlobReader>> ReaderAt(const oci::Digest& digest) override;
  Result<std::unique_ptr<BlobWriter>> Writer(const std::string& ref) override;
  Status Delete(const oci::Digest& digest) override;
  Status Walk(const std::function<Status(const BlobInfo&)>& fn) override;

  // Where a blob's bytes lie in the tar file.
  struct Location {
    uint64_t offset = 0;
    int64_t size = 0;
  };

 private:
  struct SharedFile;
  class Reader;
  OciTarStore(std::shared_ptr<SharedFile> file, std::string display_name);

  std::shared_ptr<SharedFile> file_;
  std::string display_name_;
  std::map<oci::Digest, Location> blobs_;
  std::string oci_layout_;
  std::string index_json_;
  std::optional<std::string> manifest_json_;
};

// Opens the OCI layout tarball at `path` on `fs`; errors name it `display_name` (when empty:
// "OCI layout tarball"). Only failing to open the file itself mentions the path.
Result<std::unique_ptr<OciTarStore>> OpenOciTarStore(FileSystem* fs, const std::string& path,
                                                     std::string display_name = "");

}  // namespace hoist::content
