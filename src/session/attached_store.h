// AttachedStore: how a client's OCI store is shown to the engine. It wraps the client's store
// (an OCI layout directory or tarball) and
//  - is read-only: Info and ReaderAt only; Writer, Delete and Walk are kPermissionDenied;
//  - verifies every blob against its digest while it streams: a reader hashes the bytes in
//    order (reading through any gap a caller skips), and the read that reaches the end of the
//    blob fails with kDataLoss `content sha256:<hex>: digest mismatch (got ...)` instead of
//    returning its bytes when the hash differs; after that every read fails the same way;
//  - names stores and blobs only by ID and digest: the client's paths (`private_strings`) are
//    replaced by `oci:<id>` in any error it passes on, and a missing blob is always
//    `content sha256:<hex>: not found`.
// Reads take no lock.
//
// The store an `oci` export with tar=false writes into (BuildKit's store `export`) is the same
// wrapper made with ForExport: there Writer works too (the wrapped store verifies size and
// digest at Commit, and only then does a blob appear), and paths read `export`.
//
// A local cache's store (BuildKit's `local:<key>`) is made with ForCache: read-only and
// verifying for an import, writable as the export store for an export. Its key is private (a
// BuildKit client uses its path): it is never shown, and paths read `local cache`.
//
// Ownership: shares the wrapped store with the readers it hands out, which may outlive it.
// Thread-safety: thread-safe; each BlobReader is used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "content/content_store.h"

namespace hoist::session {

class AttachedStore final : public content::ContentStore {
 public:
  AttachedStore(std::string store_id, std::shared_ptr<content::ContentStore> store,
                std::vector<std::string> private_strings);
  // The writable export store over `store`.
  static std::shared_ptr<AttachedStore> ForExport(std::shared_ptr<content::ContentStore> store,
                                                  std::vector<std::string> private_strings);
  // A local cache's store over `store`, writable for an export.
  static std::shared_ptr<AttachedStore> ForCache(std::shared_ptr<content::ContentStore> store,
                                                 std::vector<std::string> private_strings,
                                                 bool writable);
  ~AttachedStore() override;

  bool writable() const { return writable_; }

  const std::string& store_id() const { return store_id_; }

  Result<content::BlobInfo> Info(const oci::Digest& digest) override;
  Result<std::unique_ptr<content::BlobReader>> ReaderAt(const oci::Digest& digest) override;
  Result<std::unique_ptr<content::BlobWriter>> Writer(const std::string& ref) override;
  Status Delete(const oci::Digest& digest) override;
  Status Walk(const std::function<Status(const content::BlobInfo&)>& fn) override;
  // Writable stores pass the link on to the wrapped store (an engine and a client on one disk,
  // as the embedded engine is), read-only ones answer false.
  Result<bool> LinkFrom(content::ContentStore& from, const oci::Descriptor& desc,
                        CancelContext* cancel) override;

 private:
  // The error with private strings replaced and, for kNotFound, the standard blob message.
  Error Scrub(Error e, const oci::Digest& digest) const;

  std::string store_id_;
  std::string label_;  // how errors name the store: oci:<id>, export, or local cache
  bool writable_ = false;
  std::shared_ptr<content::ContentStore> store_;
  std::vector<std::string> private_strings_;
};

}  // namespace hoist::session
