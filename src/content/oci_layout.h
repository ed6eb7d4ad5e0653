// OciLayout: an OCI image layout (image-spec image-layout.md) as a store of named images:
// a directory holding `oci-layout`, `index.json` and `blobs/<alg>/<encoded>`, or the same in an
// uncompressed tarball read in place.
//
// Format owned here (index.json as hoist writes it, version 1 of hoist's conventions):
//   {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[...]}
//   Each named image is one manifests[] entry carrying `io.containerd.image.name` (the full
//   normalised name, e.g. docker.io/org/app:1.0) and `org.opencontainers.image.ref.name` (its
//   tag, e.g. 1.0); a bare tag carries only the ref name. `oci-layout` is
//   {"imageLayoutVersion":"1.0.0"}.
//
// Concurrency: every index.json update holds an exclusive flock on `index.json.lock` (the file
// BuildKit and buildx lock too) and replaces index.json atomically (write, fsync, rename), so
// concurrent writers from any process serialise and readers see the old or the new index.
// Reading takes no lock, so layouts on read-only mounts work. An OciLayout object is
// thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/file_system.h"
#include "content/content_store.h"
#include "oci/descriptor.h"
#include "oci/index.h"

namespace hoist::content {

inline constexpr std::string_view kAnnotationImageName = "io.containerd.image.name";
inline constexpr std::string_view kAnnotationRefName = "org.opencontainers.image.ref.name";

// A name to give an image in a layout: a full image name (`org/app:1.0`, normalised to
// `docker.io/org/app:1.0`, its tag becoming the ref name) or a bare tag (`1.0`).
struct LayoutName {
  std::string image_name;  // empty for a bare tag
  std::string ref_name;
  // `v1` and `latest` are tags; anything with '/' or ':' or '@' is an image name. Errors name
  // the input: `invalid image name "Foo:1": ...`.
  static Result<LayoutName> Parse(std::string_view s);
};

// The index.json entries that name `desc` as `names` (SPEC-oci-layout.md §4): one per name,
// each with io.containerd.image.name (full names only) and org.opencontainers.image.ref.name.
// No names: one entry tagged `latest`.
std::vector<oci::Descriptor> NamedIndexEntries(const oci::Descriptor& desc,
                                               const std::vector<LayoutName>& names);

struct GcReport {
  std::vector<BlobInfo> removed;  // or, with dry_run, that would be removed
  int64_t bytes = 0;
};

struct VerifyProblem {
  oci::Digest digest;
  std::string problem;  // e.g. "missing", "digest mismatch (got sha256:...)"
};
struct VerifyReport {
  int64_t blobs = 0;  // reachable blobs checked
  int64_t bytes = 0;
  std::vector<VerifyProblem> problems;
  bool ok() const { return problems.empty(); }
};

// Every descriptor reachable from `roots`, each digest once, roots first: indexes and
// manifests are read (verified) and their children followed; configs and layers are leaves.
// An index or manifest that cannot be read or parsed is reported in `problems` (when given)
// and the walk goes on. Blobs of unknown media type are sniffed.
Result<std::vector<oci::Descriptor>> ReachableFrom(ContentStore& store,
                                                   const std::vector<oci::Descriptor>& roots,
                                                   std::vector<VerifyProblem>* problems);

// Copies every blob reachable from `root` from one store to another, verified, children before
// parents (so `to` never holds a manifest without its blobs). Foreign layers (with urls) that
// `from` lacks are skipped. Blobs already in `to` are not copied. Returns the bytes copied.
Result<int64_t> CopyImage(ContentStore& from, ContentStore& to, const oci::Descriptor& root,
                           CancelContext* cancel = nullptr);

class OciLayout {
 public:
  // Opens an existing layout directory. Read-only: nothing is ever created, written or locked,
  // and a layout without the `oci-layout` file (as BuildKit's clients write them: index.json
  // and blobs/) is read too; writable opens need the file. Errors name `display` (the path as
  // the user gave it): `<display>: not an OCI image layout: missing oci-layout file`.
  static Result<std::unique_ptr<OciLayout>> OpenDirectory(FileSystem* fs, const std::string& dir,
                                                          bool read_only);
  // Opens a layout directory for writing, creating the directory, `oci-layout`, an empty
  // `index.json` and `blobs/` when missing. An existing non-empty directory that is not a
  // layout is refused.
  static Result<std::unique_ptr<OciLayout>> CreateOrOpen(FileSystem* fs, const std::string& dir);
  // Opens an OCI layout tarball in place (read-only; nothing is unpacked).
  static Result<std::unique_ptr<OciLayout>> OpenTarball(FileSystem* fs, const std::string& path);
  // A directory or a tarball, whichever `path` is.
  static Result<std::unique_ptr<OciLayout>> Open(FileSystem* fs, const std::string& path,
                                                 bool read_only);

  ~OciLayout();

  ContentStore& store() { return *store_; }
  bool read_only() const { return read_only_; }
  bool is_tarball() const { return tarball_; }
  const std::string& path() const { return path_; }

  // The current index.json (read afresh each call).
  Result<oci::Index> ReadIndex();

  // The entry for `tag`: the first whose image-name annotation equals it, else the first whose
  // ref-name annotation equals it, else (when `tag` parses as an image name) the first whose
  // image name equals its normalised form. nullopt when none.
  Result<std::optional<oci::Descriptor>> FindTag(std::string_view tag);
  // FindTag, then — when `single_fallback` — the only entry if there is exactly one.
  // kNotFound: `<display>: no image tagged "<tag>"`.
  Result<oci::Descriptor> ResolveTag(std::string_view tag, bool single_fallback);
  // The index entry with this digest, or (when the blob exists) a descriptor built from the blob
  // itself with its media type sniffed.
  Result<oci::Descriptor> ResolveDigest(const oci::Digest& digest);

  // Records `desc` under each name (no names: the tag `latest`): an existing entry with the same
  // image name and ref name is replaced, every other entry is kept. Under the lock; atomic.
  // REQUIRES: the blobs `desc` reaches are already in store().
  Status Put(const oci::Descriptor& desc, const std::vector<LayoutName>& names);
  // Removes the entries named `tag`: a full name (`org/app:1`) removes that image name; a bare
  // tag (`v1`) removes every entry whose ref name it is. kNotFound when none matched.
  Status Untag(std::string_view tag);

  // Removes blobs no index entry reaches (and stale ingest files), under the lock.
  Result<GcReport> CollectGarbage(bool dry_run);
  // Checks that every blob the index reaches is present with the right size and digest, using
  // up to `threads` threads. Foreign layers (with urls) may be absent.
  Result<VerifyReport> Verify(int threads);

  // Every descriptor reachable from the index; see ReachableFrom.
  Result<std::vector<oci::Descriptor>> Reachable(std::vector<VerifyProblem>* problems);

 private:
  OciLayout() = default;
  template <typename Fn>
  Status UpdateIndex(Fn&& mutate);

  FileSystem* fs_ = nullptr;
  std::string path_;
  bool read_only_ = true;
  bool tarball_ = false;
  std::unique_ptr<ContentStore> store_;
  // For tarballs: index.json as read at open.
  std::string tar_index_json_;
};

}  // namespace hoist::content
