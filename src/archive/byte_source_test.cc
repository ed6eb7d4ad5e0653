#include "archive/byte_source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "base/testing/test_files.h"

namespace hoist::archive {
namespace {


// Serves `data` in reads of at most `step` bytes, then fails with `error` (if set) instead of
// ending; counts the reads.
class SteppedSource final : public ByteSource {
 public:
  SteppedSource(std::string data, size_t step, std::optional<Error> error = std::nullopt)
      : data_(std::move(data)), step_(step), error_(std::move(error)) {}
  Result<size_t> Read(void* buf, size_t n) override {
    ++reads;
    if (pos_ == data_.size() && error_) return Unexpected(*error_);
    size_t got = std::min({n, step_, data_.size() - pos_});
    std::memcpy(buf, data_.data() + pos_, got);
    pos_ += got;
    return got;
  }
  std::atomic<int> reads{0};

 private:
  std::string data_;
  size_t step_;
  size_t pos_ = 0;
  std::optional<Error> error_;
};

std::string ReadAll(ByteSource& s, size_t n, Status* end = nullptr) {
  std::string out;
  std::string buf(n, '\0');
  for (;;) {
    auto got = s.Read(buf.data(), buf.size());
    if (!got) {
      if (end != nullptr) *end = Unexpected(got.error());
      return out;
    }
    if (*got == 0) return out;
    out.append(buf.data(), *got);
  }
}

TEST(ReadAheadByteSource, GivesTheInnerBytesWhateverTheSizes) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{100000}}) {
    for (size_t chunk : {size_t{1}, size_t{1000}, size_t{4096}, size_t{1 << 20}}) {
      for (size_t read : {size_t{1}, size_t{777}, size_t{65536}}) {
        const std::string data = RandomTestBytes(size, static_cast<uint32_t>(size + chunk + read));
        SteppedSource inner(data, 3000);
        ReadAheadByteSource ahead(&inner, chunk, 3);
        EXPECT_EQ(ReadAll(ahead, read), data) << size << " " << chunk << " " << read;
        // The end stays the end.
        char c;
        auto again = ahead.Read(&c, 1);
        ASSERT_TRUE(again);
        EXPECT_EQ(*again, 0u);
      }
    }
  }
}

TEST(ReadAheadByteSource, AnErrorComesAfterTheBytesBeforeIt) {
  const std::string data = RandomTestBytes(50000, 7);
  SteppedSource inner(data, 1234, Error(Code::kAborted, "a file changed"));
  ReadAheadByteSource ahead(&inner, 4096, 2);
  Status end;
  EXPECT_EQ(ReadAll(ahead, 1000, &end), data);
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().code(), Code::kAborted);
  EXPECT_EQ(end.error().message(), "a file changed");
  char c;
  EXPECT_FALSE(ahead.Read(&c, 1));  // and stays
}

TEST(ReadAheadByteSource, ReadsAtMostDepthChunksAheadAndStopsWhenDropped) {
  const std::string data = RandomTestBytes(1 << 20, 9);
  SteppedSource inner(data, 1024);
  {
    ReadAheadByteSource ahead(&inner, 1024, 4);
    char buf[10];
    ASSERT_TRUE(ahead.Read(buf, sizeof(buf)));
    // The reader holds one chunk, four wait, and the thread may hold one more it has read.
    for (int i = 0; i < 100 && inner.reads.load() < 6; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_LE(inner.reads.load(), 6);
  }  // dropped with most of the data unread: the thread stops, nothing hangs
  EXPECT_LT(inner.reads.load(), 100);
}

}  // namespace
}  // namespace hoist::archive
