// Tests of the ContentStore helpers against a store whose readers misreport their blobs, which
// no well-behaved implementation in the conformance suite can do.
#include "content/content_store.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace hoist::content {
namespace {

// Serves one blob whose reader claims `claimed_size` but holds `bytes`. Not thread-safe.
class LyingStore final : public ContentStore {
 public:
  LyingStore(std::string bytes, int64_t claimed_size)
      : bytes_(std::move(bytes)), claimed_size_(claimed_size) {}

  Result<BlobInfo> Info(const oci::Digest& digest) override {
    return BlobInfo{digest, claimed_size_};
  }
  Result<std::unique_ptr<BlobReader>> ReaderAt(const oci::Digest&) override {
    return std::unique_ptr<BlobReader>(new Reader(this));
  }
  Result<std::unique_ptr<BlobWriter>> Writer(const std::string&) override {
    return MakeError(Code::kPermissionDenied, "read-only");
  }
  Status Delete(const oci::Digest&) override {
    return MakeError(Code::kPermissionDenied, "read-only");
  }
  Status Walk(const std::function<Status(const BlobInfo&)>&) override { return {}; }

  int64_t bytes_read = 0;

 private:
  class Reader final : public BlobReader {
   public:
    explicit Reader(LyingStore* store) : store_(store) {}
    Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) override {
      if (offset >= static_cast<int64_t>(store_->bytes_.size())) return size_t{0};
      n = std::min(n, store_->bytes_.size() - static_cast<size_t>(offset));
      std::copy_n(store_->bytes_.data() + offset, n, static_cast<char*>(buf));
      store_->bytes_read += static_cast<int64_t>(n);
      return n;
    }
    int64_t Size() const override { return store_->claimed_size_; }

   private:
    LyingStore* store_;
  };

  std::string bytes_;
  int64_t claimed_size_;
};

oci::Descriptor DescriptorOf(std::string_view data) {
  oci::Descriptor d;
  d.digest = oci::Digest::Sha256Of(data);
  d.size = static_cast<int64_t>(data.size());
  return d;
}

Status Discard(std::string_view) { return {}; }

TEST(ContentStoreHelpersTest, BlobLongerThanItsReaderClaims) {
  const std::string data(3 << 20, 'x');
  LyingStore store(data + "extra", static_cast<int64_t>(data.size()));
  auto s = ReadVerified(store, DescriptorOf(data), Discard);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_EQ(s.error().message(), "content " + DescriptorOf(data).digest.str() +
                                     ": size mismatch: expected 3145728 bytes, got 3145729");
  // Found by asking for one byte past the end, not by reading the rest.
  EXPECT_EQ(store.bytes_read, static_cast<int64_t>(data.size()) + 1);
}

TEST(ContentStoreHelpersTest, BlobShorterThanItsReaderClaims) {
  LyingStore store("hell", 5);
  auto s = ReadVerified(store, DescriptorOf("hello"), Discard);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_EQ(s.error().message(), "content " + DescriptorOf("hello").digest.str() +
                                     ": size mismatch: expected 5 bytes, got 4");
}

TEST(ContentStoreHelpersTest, ReaderSizeDisagreeingWithDescriptorFailsBeforeAnyByte) {
  LyingStore store("hello", 5);
  oci::Descriptor desc = DescriptorOf("hello");
  desc.size = 4;
  int sink_calls = 0;
  auto s = ReadVerified(store, desc, [&sink_calls](std::string_view) -> Status {
    ++sink_calls;
    return {};
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_EQ(sink_calls, 0);
}

TEST(ContentStoreHelpersTest, SinkErrorStopsTheRead) {
  LyingStore store("hello", 5);
  auto s = ReadVerified(store, DescriptorOf("hello"), [](std::string_view) -> Status {
    return MakeError(Code::kResourceExhausted, "disk full");
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "disk full");
}

TEST(ContentStoreHelpersTest, CancelledBeforeStart) {
  LyingStore store("hello", 5);
  auto ctx = CancelContext::Background();
  ctx->Cancel("user pressed ^C");
  auto s = ReadVerified(store, DescriptorOf("hello"), Discard, ctx.get());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kCancelled);
  EXPECT_EQ(store.bytes_read, 0);
}

TEST(ContentStoreHelpersTest, InvalidDescriptors) {
  LyingStore store("hello", 5);
  oci::Descriptor no_digest;
  EXPECT_EQ(ReadVerified(store, no_digest, Discard).error().code(), Code::kInvalidArgument);
  oci::Descriptor negative = DescriptorOf("hello");
  negative.size = -1;
  EXPECT_EQ(ReadBlob(store, negative).error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace hoist::content
