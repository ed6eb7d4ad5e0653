#include "session/attached_store.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace hoist::session {
namespace {

constexpr size_t kCatchUpChunk = 1 << 20;

Error DigestMismatch(const oci::Digest& want, const oci::Digest& got) {
  return Error(Code::kDataLoss,
               "content " + want.str() + ": digest mismatch (got " + got.str() + ")");
}

// Hashes the bytes of a blob in order as they are read and fails the read that completes the
// blob when they do not match its digest.
class VerifyingReader final : public content::BlobReader {
 public:
  VerifyingReader(std::unique_ptr<content::BlobReader> inner, oci::Digest digest,
                  std::function<Error(Error)> scrub)
      : inner_(std::move(inner)),
        digest_(std::move(digest)),
        size_(inner_->Size()),
        digester_(digest_),
        scrub_(std::move(scrub)) {}

  int64_t Size() const override { return size_; }
  bool VerifiesDigest() const override { return true; }

  Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) override {
    if (failed_) return Unexpected(*failed_);
    if (offset < 0) {
      return MakeError(Code::kInvalidArgument, "content " + digest_.str() + ": negative offset");
    }
    // Bytes a caller skipped are read and hashed first, so that whoever reaches the end of the
    // blob always gets the verdict.
    if (offset > hashed_) HOIST_TRY(CatchUp(std::min(offset, size_)));
    if (offset >= size_) {
      HOIST_TRY(FinishIfComplete());
      return size_t{0};
    }
    n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), size_ - offset));
    HOIST_ASSIGN_OR_RETURN(size_t got, Inner(offset, buf, n));
    if (offset <= hashed_ && offset + static_cast<int64_t>(got) > hashed_) {
      const auto* p = static_cast<const unsigned char*>(buf);
      size_t skip = static_cast<size_t>(hashed_ - offset);
      digester_.Update(p + skip, got - skip);
      hashed_ = offset + static_cast<int64_t>(got);
    }
    HOIST_TRY(FinishIfComplete());
    return got;
  }

 private:
  Result<size_t> Inner(int64_t offset, void* buf, size_t n) {
    auto got = inner_->ReadAt(offset, buf, n);
    if (!got) return Fail(scrub_(std::move(got).error()));
    if (*got == 0 && n > 0) {
      // The blob shrank after it was opened: what is left cannot match the digest.
      return Fail(Error(Code::kDataLoss, "content " + digest_.str() + ": size mismatch: expected " +
                                             std::to_string(size_) + " bytes, got " +
                                             std::to_string(offset)));
    }
    return got;
  }

  Status CatchUp(int64_t to) {
    std::vector<unsigned char> buf(kCatchUpChunk);
    while (hashed_ < to) {
      size_t want = static_cast<size_t>(std::min<int64_t>(to - hashed_, kCatchUpChunk));
      HOIST_ASSIGN_OR_RETURN(size_t got, Inner(hashed_, buf.data(), want));
      digester_.Update(buf.data(), got);
      hashed_ += static_cast<int64_t>(got);
    }
    return {};
  }

  Status FinishIfComplete() {
    if (verified_ || hashed_ < size_) return {};
    oci::Digest got = digester_.Finish();
    if (got != digest_) return Fail(DigestMismatch(digest_, got));
    verified_ = true;
    return {};
  }

  tl::unexpected<Error> Fail(Error e) {
    failed_ = e;
    return Unexpected(std::move(e));
  }

  std::unique_ptr<content::BlobReader> inner_;
  oci::Digest digest_;
  int64_t size_;
  oci::Digester digester_;
  std::function<Error(Error)> scrub_;
  int64_t hashed_ = 0;
  bool verified_ = false;
  std::optional<Error> failed_;
};

// Replaces every private string in the message with the store's label.
Error ScrubPaths(Error e, const std::string& replacement,
                 const std::vector<std::string>& private_strings) {
  std::string msg = e.message();
  for (const std::string& s : private_strings) {
    for (size_t pos = msg.find(s); pos != std::string::npos;
         pos = msg.find(s, pos + replacement.size())) {
      msg.replace(pos, s.size(), replacement);
    }
  }
  return Error(e.code(), std::move(msg));
}

Error ReadOnly(const std::string& label, std::string_view what) {
  return Error(Code::kPermissionDenied,
               "store " + label + " is read-only: the engine may not " + std::string(what));
}

// A writer whose errors are scrubbed of the client's paths.
class ScrubbingWriter final : public content::BlobWriter {
 public:
  ScrubbingWriter(std::unique_ptr<content::BlobWriter> inner, std::function<Error(Error)> scrub)
      : inner_(std::move(inner)), scrub_(std::move(scrub)) {}
  Status Write(std::string_view data) override { return Pass(inner_->Write(data)); }
  int64_t Offset() const override { return inner_->Offset(); }
  Status Commit(int64_t expected_size, const oci::Digest& expected) override {
    return Pass(inner_->Commit(expected_size, expected));
  }
  oci::Digest Digest() override { return inner_->Digest(); }

 private:
  Status Pass(Status st) {
    if (!st) return Unexpected(scrub_(std::move(st).error()));
    return st;
  }

  std::unique_ptr<content::BlobWriter> inner_;
  std::function<Error(Error)> scrub_;
};

}  // namespace

AttachedStore::AttachedStore(std::string store_id, std::shared_ptr<content::ContentStore> store,
                             std::vector<std::string> private_strings)
    : store_id_(std::move(store_id)),
      label_("oci:" + store_id_),
      store_(std::move(store)),
      private_strings_(std::move(private_strings)) {
  // Longest first, so a path is replaced before any shorter string inside it.
  std::erase_if(private_strings_, [](const std::string& s) { return s.empty(); });
  std::sort(private_strings_.begin(), private_strings_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::shared_ptr<AttachedStore> AttachedStore::ForExport(
    std::shared_ptr<content::ContentStore> store, std::vector<std::string> private_strings) {
  auto s = std::make_shared<AttachedStore>("export", std::move(store), std::move(private_strings));
  s->label_ = "export";
  s->writable_ = true;
  return s;
}

std::shared_ptr<AttachedStore> AttachedStore::ForCache(
    std::shared_ptr<content::ContentStore> store, std::vector<std::string> private_strings,
    bool writable) {
  auto s = std::make_shared<AttachedStore>("", std::move(store), std::move(private_strings));
  s->label_ = "local cache";
  s->writable_ = writable;
  return s;
}

AttachedStore::~AttachedStore() = default;

Error AttachedStore::Scrub(Error e, const oci::Digest& digest) const {
  // (A client that does not know the store says so, as BuildKit's clients do: "unknown store
  // <id>".)
  if (e.code() == Code::kNotFound && digest.valid() && e.message().rfind("unknown store", 0) != 0) {
    return content::BlobNotFound(digest);
  }
  return ScrubPaths(std::move(e), label_, private_strings_);
}

Result<content::BlobInfo> AttachedStore::Info(const oci::Digest& digest) {
  auto info = store_->Info(digest);
  if (!info) return Unexpected(Scrub(std::move(info).error(), digest));
  return info;
}

Result<std::unique_ptr<content::BlobReader>> AttachedStore::ReaderAt(const oci::Digest& digest) {
  if (!digest.valid()) {
    return MakeError(Code::kInvalidArgument, "content descriptor has no digest");
  }
  if (!digest.supported()) {
    return MakeError(Code::kUnimplemented,
                     "content " + digest.str() + ": unsupported digest algorithm, cannot verify");
  }
  auto reader = store_->ReaderAt(digest);
  if (!reader) return Unexpected(Scrub(std::move(reader).error(), digest));
  // The scrubber holds copies, so readers outlive the store safely.
  auto scrub = [label = label_, strings = private_strings_](Error e) {
    return ScrubPaths(std::move(e), label, strings);
  };
  return std::unique_ptr<content::BlobReader>(
      std::make_unique<VerifyingReader>(std::move(*reader), digest, std::move(scrub)));
}

Result<std::unique_ptr<content::BlobWriter>> AttachedStore::Writer(const std::string& ref) {
  if (!writable_) return Unexpected(ReadOnly(label_, "write to it"));
  auto scrub = [label = label_, strings = private_strings_](Error e) {
    return ScrubPaths(std::move(e), label, strings);
  };
  auto w = store_->Writer(ref);
  if (!w) return Unexpected(scrub(std::move(w).error()));
  return std::unique_ptr<content::BlobWriter>(
      std::make_unique<ScrubbingWriter>(std::move(*w), std::move(scrub)));
}

Result<bool> AttachedStore::LinkFrom(content::ContentStore& from, const oci::Descriptor& desc,
                                     CancelContext* cancel) {
  if (!writable_) return false;
  auto linked = store_->LinkFrom(from, desc, cancel);
  if (!linked) return Unexpected(Scrub(std::move(linked).error(), desc.digest));
  return linked;
}

Status AttachedStore::Delete(const oci::Digest&) {
  if (writable_) {
    return MakeError(Code::kPermissionDenied,
                     "store " + label_ + ": the engine may add blobs but not delete them");
  }
  return Unexpected(ReadOnly(label_, "delete from it"));
}

Status AttachedStore::Walk(const std::function<Status(const content::BlobInfo&)>&) {
  if (writable_) {
    return MakeError(Code::kPermissionDenied, "store " + label_ + ": the engine may not list it");
  }
  return Unexpected(ReadOnly(label_, "list it"));
}

}  // namespace hoist::session
