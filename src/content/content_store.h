// ContentStore: blobs addressed by digest, as containerd's content store. Blobs become visible
// only through BlobWriter::Commit, which verifies size and digest before an atomic rename, so
// a reader never sees a partial or wrong blob. Implementations: LocalContentStore (a directory
// `blobs/<alg>/<encoded>` + `ingest/`), the read-only OCI layout tarball store, and session
// proxies.
//
// Thread-safety: stores are thread-safe; readers and writers are used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/cancel.h"
#include "base/error.h"
#include "oci/descriptor.h"
#include "oci/digest.h"

namespace hoist::content {

struct BlobInfo {
  oci::Digest digest;
  int64_t size = 0;
};

// Random-access reads of one committed blob.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Reads up to n bytes at offset; 0 only at the end of the blob.
  virtual Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) = 0;
  virtual int64_t Size() const = 0;
  // True when the reader checks the blob itself: the read that completes the bytes read in
  // order from offset 0, and every read after it, fails unless they hash to the digest it was
  // opened for (a client's store seen by the engine, session::AttachedStore). Whoever reads
  // such a reader to its end without an error has read the blob its digest names.
  virtual bool VerifiesDigest() const { return false; }
};

// Writes one blob. Without a successful Commit the destructor discards what was written.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status Write(std::string_view data) = 0;
  // Bytes written so far.
  virtual int64_t Offset() const = 0;
  // Verifies that the data written has `expected_size` bytes (unless negative) and digest
  // `expected` (unless !expected.valid()), then makes the blob visible. A mismatch is kDataLoss
  // naming the expected digest; nothing becomes visible. Committing content that is already
  // present succeeds. The writer is finished afterwards, whatever the outcome.
  virtual Status Commit(int64_t expected_size, const oci::Digest& expected) = 0;
  // The digest of what was written (after Commit: of the committed blob).
  virtual oci::Digest Digest() = 0;
  // Says that the bytes about to be written are read from a reader that VerifiesDigest()
  // against `digest`, all `size` of them in order, and that Commit follows only a read of
  // them that ended without an error: a writer may then take them as `digest` without hashing
  // them again. Call before the first Write. Writers that hash anyway ignore it (the default).
  virtual void SourceVerifies(const oci::Digest& digest, int64_t size) { (void)digest, (void)size; }
};

class ContentStore {
 public:
  virtual ~ContentStore() = default;

  // kNotFound as `content sha256:<hex>: not found`.
  virtual Result<BlobInfo> Info(const oci::Digest& digest) = 0;
  virtual Result<std::unique_ptr<BlobReader>> ReaderAt(const oci::Digest& digest) = 0;
  // Starts an ingest keyed by `ref` (any string; writers with the same ref in use at once:
  // kUnavailable). Read-only stores return kPermissionDenied.
  virtual Result<std::unique_ptr<BlobWriter>> Writer(const std::string& ref) = 0;
  // Removes a blob. kNotFound if absent; kPermissionDenied on read-only stores.
  virtual Status Delete(const oci::Digest& digest) = 0;
  // Calls fn for every committed blob (order unspecified); stops at fn's first error.
  virtual Status Walk(const std::function<Status(const BlobInfo&)>& fn) = 0;
  // True when every blob in this store was hashed and verified by the store itself when it was
  // committed, and nothing writes blobs in place (the engine's own store): a reader that proves
  // what it reads some other way (a layer's DiffID) need not hash the blob again.
  virtual bool VerifiedOnCommit() const { return false; }
  // Adds the blob `desc` of `from` without copying its bytes, where both stores keep blobs as
  // files on one file system (a hard link), verified as a copy is. false when this store cannot
  // (the default; other kinds of stores, other file systems, the link limit): copy instead. A
  // blob that does not match `desc` is kDataLoss and is not added.
  virtual Result<bool> LinkFrom(ContentStore& from, const oci::Descriptor& desc,
                                CancelContext* cancel) {
    (void)from, (void)desc, (void)cancel;
    return false;
  }
};

// The standard not-found error for a blob: `content sha256:<hex>: not found`.
Error BlobNotFound(const oci::Digest& digest);
// The errors for bytes that are not the blob `digest` names (kDataLoss):
// `content sha256:<hex>: size mismatch: expected N bytes, got M` and
// `content sha256:<hex>: digest mismatch (got sha256:<hex>)`.
Error SizeMismatch(const oci::Digest& digest, int64_t expected, int64_t got);
Error DigestMismatch(const oci::Digest& digest, const oci::Digest& got);

// Streams a blob through `sink` in chunks, verifying size and digest against `desc` as it goes;
// a mismatch is kDataLoss (`content sha256:<hex>: ...`, naming the digest, never a path). The
// sink has then seen unverified bytes, so callers that keep output must discard it on error.
Status ReadVerified(ContentStore& store, const oci::Descriptor& desc,
                    const std::function<Status(std::string_view chunk)>& sink,
                    CancelContext* cancel = nullptr);
// Reads a whole blob into memory, verified. Blobs larger than max_size are refused
// (kResourceExhausted), so a hostile manifest cannot make us allocate without bound.
Result<std::string> ReadBlob(ContentStore& store, const oci::Descriptor& desc,
                             int64_t max_size = 16 << 20);
// Writes a whole in-memory blob; returns its descriptor fields digest and size.
Result<BlobInfo> WriteBlob(ContentStore& store, std::string_view data,
                           const oci::Digest& expected = {});
// A writer for `digest` under the ref `ref`, waiting while another writer holds that ref (a
// concurrent fetch of the same blob, as containerd's clients wait): null when the blob was
// committed meanwhile, so there is nothing left to write. kCancelled when `cancel` fires.
Result<std::unique_ptr<BlobWriter>> WriterOrWait(ContentStore& store, const std::string& ref,
                                                 const oci::Digest& digest,
                                                 CancelContext* cancel = nullptr);
// Streams the blob `desc` of `from` into `to` and commits it there as `desc`, hashing the bytes
// once: the writer's Commit verifies size and digest, or, when `from`'s reader verifies the
// blob itself (BlobReader::VerifiesDigest), the writer is told so and takes the reader's word.
// `on_bytes` (may be empty) sees each chunk's size.
Status CopyInto(ContentStore& from, const oci::Descriptor& desc, BlobWriter& to,
                const std::function<void(int64_t bytes)>& on_bytes, CancelContext* cancel = nullptr);
// Copies a blob between stores, verifying it; a blob already in `to` is not copied again, and
// one that `to` can link (LinkFrom) is linked rather than copied.
Status CopyBlob(ContentStore& from, ContentStore& to, const oci::Descriptor& desc,
                CancelContext* cancel = nullptr);

}  // namespace hoist::content
