#include "content/content_store.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace hoist::content {
namespace {

// Large enough that hashing, not call overhead, dominates (hashing 64 KiB takes ~40 us, a read
// call ~1 us); small enough to stay in L2 and to check for cancellation often. Larger buffers
// cost more than they save: each read or hash of a short blob first faults in a fresh buffer,
// 256 page faults for 1 MiB, which made reading a 1 MiB blob 5x slower than with 64 KiB.
constexpr int64_t kChunkSize = 64 << 10;

Status CheckDescriptor(const oci::Descriptor& desc) {
  if (!desc.digest.valid()) {
    return MakeError(Code::kInvalidArgument, "content descriptor has no digest");
  }
  if (desc.size < 0) {
    return MakeError(Code::kInvalidArgument, "content " + desc.digest.str() + ": negative size " +
                                                 std::to_string(desc.size));
  }
  return {};
}

// A ref that no other writer in this process uses, so that helpers writing the same content
// at once never collide on a ref lock; the second commit finds the blob present and succeeds.
std::string UniqueRef(std::string_view purpose, const oci::Digest& digest) {
  static std::atomic<uint64_t> counter{0};
  return std::string(purpose) + "-" + digest.str() + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace

Error BlobNotFound(const oci::Digest& digest) {
  return Error(Code::kNotFound, "content " + digest.str() + ": not found");
}

Error SizeMismatch(const oci::Digest& digest, int64_t expected, int64_t got) {
  return Error(Code::kDataLoss, "content " + digest.str() + ": size mismatch: expected " +
                                    std::to_string(expected) + " bytes, got " +
                                    std::to_string(got));
}

Error DigestMismatch(const oci::Digest& digest, const oci::Digest& got) {
  return Error(Code::kDataLoss,
               "content " + digest.str() + ": digest mismatch (got " + got.str() + ")");
}

namespace {

// Streams `desc`'s bytes to `sink`, checking the size; hashes them into `digester` when given.
// `opened` (may be empty) sees the reader before the first byte is read.
Status Stream(ContentStore& store, const oci::Descriptor& desc,
              const std::function<Status(std::string_view chunk)>& sink, oci::Digester* digester,
              CancelContext* cancel, const std::function<void(const BlobReader&)>& opened = {}) {
  HOIST_TRY(CheckDescriptor(desc));
  if (cancel != nullptr) HOIST_TRY(cancel->Check());
  HOIST_ASSIGN_OR_RETURN(auto reader, store.ReaderAt(desc.digest));
  // A stored size that differs is caught before any unverified byte reaches the sink.
  if (reader->Size() != desc.size) {
    return Unexpected(SizeMismatch(desc.digest, desc.size, reader->Size()));
  }
  if (opened) opened(*reader);

  const auto buf = std::make_unique_for_overwrite<char[]>(
      static_cast<size_t>(std::clamp<int64_t>(desc.size, 1, kChunkSize)));
  int64_t offset = 0;
  for (;;) {
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    // Once the expected size is reached, one more byte is asked for: a blob longer than its
    // reader's Size() claimed is then caught without reading the rest of it.
    size_t want = static_cast<size_t>(std::clamp<int64_t>(desc.size - offset, 1, kChunkSize));
    HOIST_ASSIGN_OR_RETURN(size_t n, reader->ReadAt(offset, buf.get(), want));
    if (n == 0) break;
    if (offset + static_cast<int64_t>(n) > desc.size) {
      return Unexpected(SizeMismatch(desc.digest, desc.size, offset + static_cast<int64_t>(n)));
    }
    if (digester != nullptr) digester->Update(buf.get(), n);
    HOIST_TRY(sink(std::string_view(buf.get(), n)));
    offset += static_cast<int64_t>(n);
  }
  if (offset != desc.size) return Unexpected(SizeMismatch(desc.digest, desc.size, offset));
  return {};
}

}  // namespace

Status ReadVerified(ContentStore& store, const oci::Descriptor& desc,
                    const std::function<Status(std::string_view chunk)>& sink,
                    CancelContext* cancel) {
  HOIST_TRY(CheckDescriptor(desc));
  oci::Digester digester(desc.digest);
  HOIST_TRY(Stream(store, desc, sink, &digester, cancel));
  oci::Digest got = digester.Finish();
  if (got != desc.digest) return Unexpected(DigestMismatch(desc.digest, got));
  return {};
}

Status CopyInto(ContentStore& from, const oci::Descriptor& desc, BlobWriter& to,
                const std::function<void(int64_t bytes)>& on_bytes, CancelContext* cancel) {
  HOIST_TRY(Stream(
      from, desc,
      [&](std::string_view chunk) -> Status {
        HOIST_TRY(to.Write(chunk));
        if (on_bytes) on_bytes(static_cast<int64_t>(chunk.size()));
        return {};
      },
      nullptr, cancel,
      [&](const BlobReader& reader) {
        // Read whole and in order below, and committed only when that ends without an error.
        if (reader.VerifiesDigest()) to.SourceVerifies(desc.digest, desc.size);
      }));
  return to.Commit(desc.size, desc.digest);
}

Result<std::string> ReadBlob(ContentStore& store, const oci::Descriptor& desc, int64_t max_size) {
  HOIST_TRY(CheckDescriptor(desc));
  if (desc.size > max_size) {
    return MakeError(Code::kResourceExhausted,
                     "content " + desc.digest.str() + ": blob is " + std::to_string(desc.size) +
                         " bytes, more than the limit of " + std::to_string(max_size));
  }
  std::string out;
  out.reserve(static_cast<size_t>(desc.size));
  HOIST_TRY(ReadVerified(store, desc, [&out](std::string_view chunk) -> Status {
    out.append(chunk);
    return {};
  }));
  return out;
}

Result<BlobInfo> WriteBlob(ContentStore& store, std::string_view data,
                           const oci::Digest& expected) {
  oci::Digest digest;
  if (expected.valid()) {
    digest = expected;
  } else {
    digest = oci::Digest::Sha256Of(data);
  }
  BlobInfo info{digest, static_cast<int64_t>(data.size())};
  HOIST_ASSIGN_OR_RETURN(auto writer, store.Writer(UniqueRef("write", digest)));
  HOIST_TRY(writer->Write(data));
  HOIST_TRY(writer->Commit(info.size, digest));
  return info;
}

Result<std::unique_ptr<BlobWriter>> WriterOrWait(ContentStore& store, const std::string& ref,
                                                 const oci::Digest& digest,
                                                 CancelContext* cancel) {
  for (auto delay = std::chrono::milliseconds(5);;) {
    if (store.Info(digest)) return std::unique_ptr<BlobWriter>();
    auto w = store.Writer(ref);
    if (w || w.error().code() != Code::kUnavailable) return w;
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(200));
  }
}

Status CopyBlob(ContentStore& from, ContentStore& to, const oci::Descriptor& desc,
                CancelContext* cancel) {
  HOIST_TRY(CheckDescriptor(desc));
  auto present = to.Info(desc.digest);
  if (present && present->size == desc.size) return {};
  if (!present && present.error().code() != Code::kNotFound) {
    return Unexpected(std::move(present).error());
  }
  // A present blob of the wrong size is damaged; the verified link or copy replaces it.
  HOIST_ASSIGN_OR_RETURN(bool linked, to.LinkFrom(from, desc, cancel));
  if (linked) return {};
  HOIST_ASSIGN_OR_RETURN(auto writer, to.Writer(UniqueRef("copy", desc.digest)));
  return CopyInto(from, desc, *writer, {}, cancel);
}

}  // namespace hoist::content
