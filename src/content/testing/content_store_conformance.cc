#include "content/testing/content_store_conformance.h"

#include <atomic>
#include <thread>

#include "base/cancel.h"
#include "base/file_system.h"
#include "content/local_content_store.h"

namespace hoist::content {

std::string ContentStoreFactoryName(const ::testing::TestParamInfo<ContentStoreFactory>& info) {
  return info.param.name;
}

void PrintTo(const ContentStoreFactory& f, std::ostream* os) { *os << f.name; }

std::string TestBytes(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull ^ seed;
  for (size_t i = 0; i < n; ++i) {
    // xorshift64: fast, and enough to defeat any accidental run-length shortcut.
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x >> 56);
  }
  return out;
}

ContentStore* ContentStoreConformanceTest::MakeStore(const std::vector<std::string>& seed) {
  auto dir = TempDir::Create("hoist-content-conf-");
  EXPECT_TRUE(dir) << dir.error().message();
  if (!dir) return nullptr;
  dirs_.push_back(std::move(*dir));
  auto made = factory().make(dirs_.back().path(), seed);
  EXPECT_TRUE(made) << made.error().message();
  if (!made) return nullptr;
  stores_.push_back(std::move(*made));
  ContentStore* store = stores_.back().store.get();
  if (factory().writable) {
    for (const std::string& blob : seed) {
      auto info = store->Info(oci::Digest::Sha256Of(blob));
      if (info) continue;  // the factory seeded it already
      auto written = WriteBlob(*store, blob);
      EXPECT_TRUE(written) << written.error().message();
      if (!written) return nullptr;
    }
  }
  return store;
}

namespace {

oci::Descriptor DescriptorOf(std::string_view data) {
  oci::Descriptor d;
  d.media_type = "application/octet-stream";
  d.digest = oci::Digest::Sha256Of(data);
  d.size = static_cast<int64_t>(data.size());
  return d;
}

std::string NotFoundMessage(const oci::Digest& d) { return "content " + d.str() + ": not found"; }

std::vector<BlobInfo> WalkAll(ContentStore& store) {
  std::vector<BlobInfo> out;
  auto s = store.Walk([&out](const BlobInfo& info) -> Status {
    out.push_back(info);
    return {};
  });
  EXPECT_TRUE(s) << s.error().message();
  std::sort(out.begin(), out.end(),
            [](const BlobInfo& a, const BlobInfo& b) { return a.digest < b.digest; });
  return out;
}

Result<std::string> ReadAll(ContentStore& store, std::string_view data) {
  return ReadBlob(store, DescriptorOf(data), 64 << 20);
}

#define MAKE_STORE_OR_RETURN(var, ...)        \
  ContentStore* var = MakeStore(__VA_ARGS__); \
  ASSERT_NE(var, nullptr)

// ---- reads: every implementation ----

TEST_P(ContentStoreConformanceTest, SeededBlobsReadBack) {
  const std::vector<std::string> seed = {"hello", "world", TestBytes(4096, 1)};
  MAKE_STORE_OR_RETURN(store, seed);
  for (const std::string& blob : seed) {
    auto d = oci::Digest::Sha256Of(blob);
    auto info = store->Info(d);
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->digest, d);
    EXPECT_EQ(info->size, static_cast<int64_t>(blob.size()));
    auto got = ReadAll(*store, blob);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(*got, blob);
  }
}

TEST_P(ContentStoreConformanceTest, EmptyBlob) {
  MAKE_STORE_OR_RETURN(store, {std::string()});
  auto d = oci::Digest::Sha256Of("");
  auto info = store->Info(d);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->size, 0);
  auto reader = store->ReaderAt(d);
  ASSERT_TRUE(reader) << reader.error().message();
  char c;
  auto n = (*reader)->ReadAt(0, &c, 1);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  auto got = ReadAll(*store, "");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, "");
}

TEST_P(ContentStoreConformanceTest, LargeBlobReadAtOffsets) {
  const std::string big = TestBytes(20 << 20, 7);
  MAKE_STORE_OR_RETURN(store, {big});
  auto d = oci::Digest::Sha256Of(big);
  auto reader = store->ReaderAt(d);
  ASSERT_TRUE(reader) << reader.error().message();
  EXPECT_EQ((*reader)->Size(), static_cast<int64_t>(big.size()));
  const int64_t size = static_cast<int64_t>(big.size());
  for (int64_t off :
       {int64_t{0}, int64_t{1}, int64_t{(1 << 20) - 1}, int64_t{(10 << 20) + 3}, size - 5}) {
    SCOPED_TRACE("offset " + std::to_string(off));
    std::string buf(4096, '\0');
    size_t want = static_cast<size_t>(std::min<int64_t>(4096, size - off));
    // A reader may return fewer bytes than asked; loop as callers must.
    size_t got = 0;
    while (got < want) {
      auto n = (*reader)->ReadAt(off + static_cast<int64_t>(got), buf.data() + got, want - got);
      ASSERT_TRUE(n) << n.error().message();
      ASSERT_GT(*n, 0u);
      got += *n;
    }
    EXPECT_EQ(buf.substr(0, want), big.substr(static_cast<size_t>(off), want));
  }
  char c;
  auto at_end = (*reader)->ReadAt(size, &c, 1);
  ASSERT_TRUE(at_end);
  EXPECT_EQ(*at_end, 0u);
  auto past_end = (*reader)->ReadAt(size + 10, &c, 1);
  ASSERT_TRUE(past_end);
  EXPECT_EQ(*past_end, 0u);

  size_t chunks = 0;
  int64_t total = 0;
  auto s = ReadVerified(*store, DescriptorOf(big), [&](std::string_view chunk) -> Status {
    EXPECT_LE(chunk.size(), size_t{1} << 20);
    ++chunks;
    total += static_cast<int64_t>(chunk.size());
    return {};
  });
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(total, size);
  EXPECT_GE(chunks, 20u);
}

TEST_P(ContentStoreConformanceTest, NotFoundErrorsNameTheDigest) {
  MAKE_STORE_OR_RETURN(store, {"present"});
  auto d = oci::Digest::Sha256Of("absent");
  auto info = store->Info(d);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), Code::kNotFound);
  EXPECT_EQ(info.error().message(), NotFoundMessage(d));
  auto reader = store->ReaderAt(d);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().code(), Code::kNotFound);
  EXPECT_EQ(reader.error().message(), NotFoundMessage(d));
  auto blob = ReadAll(*store, "absent");
  ASSERT_FALSE(blob);
  EXPECT_EQ(blob.error().code(), Code::kNotFound);
  EXPECT_EQ(blob.error().message(), NotFoundMessage(d));
  EXPECT_EQ(BlobNotFound(d).message(), NotFoundMessage(d));
}

TEST_P(ContentStoreConformanceTest, WalkListsExactlyTheBlobs) {
  const std::vector<std::string> seed = {"a", "bb", "ccc", ""};
  MAKE_STORE_OR_RETURN(store, seed);
  std::vector<BlobInfo> want;
  for (const std::string& blob : seed) {
    want.push_back({oci::Digest::Sha256Of(blob), static_cast<int64_t>(blob.size())});
  }
  std::sort(want.begin(), want.end(),
            [](const BlobInfo& a, const BlobInfo& b) { return a.digest < b.digest; });
  auto got = WalkAll(*store);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].digest, want[i].digest);
    EXPECT_EQ(got[i].size, want[i].size);
  }
  // Walk stops at the callback's first error and returns it.
  int calls = 0;
  auto s = store->Walk([&calls](const BlobInfo&) -> Status {
    ++calls;
    return MakeError(Code::kAborted, "stop");
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kAborted);
  EXPECT_EQ(calls, 1);
}

TEST_P(ContentStoreConformanceTest, ReadVerifiedSizeMismatch) {
  MAKE_STORE_OR_RETURN(store, {"hello"});
  oci::Descriptor desc = DescriptorOf("hello");
  desc.size = 6;
  auto s = ReadVerified(*store, desc, [](std::string_view) -> Status { return {}; });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_EQ(s.error().message(),
            "content " + desc.digest.str() + ": size mismatch: expected 6 bytes, got 5");
}

TEST_P(ContentStoreConformanceTest, ReadBlobRefusesBlobsOverTheLimit) {
  const std::string blob = TestBytes(1000, 3);
  MAKE_STORE_OR_RETURN(store, {blob});
  auto r = ReadBlob(*store, DescriptorOf(blob), 999);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  auto ok = ReadBlob(*store, DescriptorOf(blob), 1000);
  ASSERT_TRUE(ok) << ok.error().message();
}

TEST_P(ContentStoreConformanceTest, ReadVerifiedStopsWhenCancelled) {
  const std::string big = TestBytes(3 << 20, 5);
  MAKE_STORE_OR_RETURN(store, {big});
  auto ctx = CancelContext::Background();
  int chunks = 0;
  auto s = ReadVerified(
      *store, DescriptorOf(big),
      [&](std::string_view) -> Status {
        if (++chunks == 1) ctx->Cancel("build cancelled");
        return {};
      },
      ctx.get());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kCancelled);
  EXPECT_EQ(chunks, 1);
}

TEST_P(ContentStoreConformanceTest, CorruptedBlobFailsVerification) {
  ASSERT_TRUE(factory().corrupt) << factory().name << " registers no way to corrupt a blob";
  const std::string blob = TestBytes(3 << 20, 11);
  MAKE_STORE_OR_RETURN(store, {blob});
  auto d = oci::Digest::Sha256Of(blob);
  auto corrupted = factory().corrupt(store_dir(), d);
  ASSERT_TRUE(corrupted) << corrupted.error().message();
  auto s = ReadVerified(*store, DescriptorOf(blob), [](std::string_view) -> Status { return {}; });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_EQ(s.error().message().rfind("content " + d.str() + ": digest mismatch (got sha256:", 0),
            0u)
      << s.error().message();
  EXPECT_EQ(s.error().message().find(store_dir()), std::string::npos) << "leaks a path";
}

TEST_P(ContentStoreConformanceTest, TraversalDigestsAreUnrepresentable) {
  for (const char* bad : {"sha256:../../etc", "sha256:../../../etc/passwd", "../sha256:ab",
                          "sha256/../../x:ab", "sha256:" /* empty */}) {
    EXPECT_FALSE(oci::Digest::Parse(bad)) << bad;
  }
  MAKE_STORE_OR_RETURN(store, {});
  auto info = store->Info(oci::Digest());
  EXPECT_FALSE(info);
}

TEST_P(ContentStoreConformanceTest, CopyBlobVerifiesAndSkipsPresent) {
  const std::string blob = TestBytes(2 << 20, 13);
  MAKE_STORE_OR_RETURN(from, {blob});
  // The target is a second store of the same kind when it can be written, else a local one.
  ContentStore* to = nullptr;
  std::unique_ptr<LocalContentStore> local;
  auto dir = TempDir::Create("hoist-content-copy-");
  ASSERT_TRUE(dir);
  if (factory().writable) {
    to = MakeStore({});
    ASSERT_NE(to, nullptr);
  } else {
    auto opened = LocalContentStore::Open(PosixFileSystem(), dir->path());
    ASSERT_TRUE(opened) << opened.error().message();
    local = std::move(*opened);
    to = local.get();
  }
  auto s = CopyBlob(*from, *to, DescriptorOf(blob));
  ASSERT_TRUE(s) << s.error().message();
  auto got = ReadAll(*to, blob);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, blob);
  auto again = CopyBlob(*from, *to, DescriptorOf(blob));
  ASSERT_TRUE(again) << again.error().message();
  auto missing = CopyBlob(*from, *to, DescriptorOf("not there"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
}

TEST_P(ReadOnlyContentStoreConformanceTest, ReadOnlyStoresRefuseWrites) {
  MAKE_STORE_OR_RETURN(store, {"hello"});
  auto w = store->Writer("ref");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kPermissionDenied);
  auto del = store->Delete(oci::Digest::Sha256Of("hello"));
  ASSERT_FALSE(del);
  EXPECT_EQ(del.error().code(), Code::kPermissionDenied);
  EXPECT_TRUE(store->Info(oci::Digest::Sha256Of("hello")));
}

// ---- writes: writable implementations ----

TEST_P(WritableContentStoreConformanceTest, WriteCommitInfoReadRoundTrip) {
  MAKE_STORE_OR_RETURN(store);
  const std::string data = TestBytes(100000, 17);
  auto d = oci::Digest::Sha256Of(data);
  auto w = store->Writer("round-trip");
  ASSERT_TRUE(w) << w.error().message();
  for (size_t off = 0; off < data.size(); off += 30000) {
    ASSERT_TRUE((*w)->Write(std::string_view(data).substr(off, 30000)));
  }
  EXPECT_EQ((*w)->Offset(), static_cast<int64_t>(data.size()));
  EXPECT_EQ((*w)->Digest(), d);
  // Not visible before Commit.
  EXPECT_EQ(store->Info(d).error().code(), Code::kNotFound);
  // Digest() in the middle does not disturb the digest computed at Commit.
  ASSERT_TRUE((*w)->Write(""));
  auto s = (*w)->Commit(static_cast<int64_t>(data.size()), d);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ((*w)->Digest(), d);
  auto info = store->Info(d);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->size, static_cast<int64_t>(data.size()));
  auto got = ReadAll(*store, data);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, data);
  // The writer is finished.
  EXPECT_EQ((*w)->Write("x").error().code(), Code::kFailedPrecondition);
  EXPECT_EQ((*w)->Commit(-1, {}).error().code(), Code::kFailedPrecondition);
}

TEST_P(WritableContentStoreConformanceTest, WriteAfterDigestStillCommitsTheRightDigest) {
  MAKE_STORE_OR_RETURN(store);
  auto w = store->Writer("digest-midway");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write("hello "));
  EXPECT_EQ((*w)->Digest(), oci::Digest::Sha256Of("hello "));
  ASSERT_TRUE((*w)->Write("world"));
  EXPECT_EQ((*w)->Digest(), oci::Digest::Sha256Of("hello world"));
  auto s = (*w)->Commit(11, oci::Digest::Sha256Of("hello world"));
  ASSERT_TRUE(s) << s.error().message();
}

TEST_P(WritableContentStoreConformanceTest, CommitWithoutExpectations) {
  MAKE_STORE_OR_RETURN(store);
  auto w = store->Writer("no-expectations");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write("abc"));
  auto s = (*w)->Commit(-1, oci::Digest());
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(store->Info(oci::Digest::Sha256Of("abc")));
}

TEST_P(WritableContentStoreConformanceTest, WriteEmptyBlob) {
  MAKE_STORE_OR_RETURN(store);
  auto info = WriteBlob(*store, "");
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->size, 0);
  EXPECT_EQ(info->digest, oci::Digest::Sha256Of(""));
  auto got = ReadAll(*store, "");
  ASSERT_TRUE(got) << got.error().message();
}

TEST_P(WritableContentStoreConformanceTest, WrongDigestIsDataLossAndNothingVisible) {
  MAKE_STORE_OR_RETURN(store);
  auto w = store->Writer("wrong-digest");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write("hello"));
  auto claimed = oci::Digest::Sha256Of("world");
  auto s = (*w)->Commit(5, claimed);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_EQ(s.error().message(), "content " + claimed.str() + ": digest mismatch (got " +
                                     oci::Digest::Sha256Of("hello").str() + ")");
  EXPECT_EQ(store->Info(claimed).error().code(), Code::kNotFound);
  EXPECT_EQ(store->Info(oci::Digest::Sha256Of("hello")).error().code(), Code::kNotFound);
  EXPECT_TRUE(WalkAll(*store).empty());
  // The ref is free again.
  EXPECT_TRUE(store->Writer("wrong-digest"));
}

TEST_P(WritableContentStoreConformanceTest, WrongSizeIsDataLossAndNothingVisible) {
  MAKE_STORE_OR_RETURN(store);
  auto w = store->Writer("wrong-size");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write("hello"));
  auto d = oci::Digest::Sha256Of("hello");
  auto s = (*w)->Commit(4, d);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kDataLoss);
  EXPECT_EQ(s.error().message(), "content " + d.str() + ": size mismatch: expected 4 bytes, got 5");
  EXPECT_TRUE(WalkAll(*store).empty());
}

TEST_P(WritableContentStoreConformanceTest, CommitOfExistingBlobSucceeds) {
  MAKE_STORE_OR_RETURN(store, {"hello"});
  auto d = oci::Digest::Sha256Of("hello");
  auto w = store->Writer("again");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Write("hello"));
  auto s = (*w)->Commit(5, d);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(WalkAll(*store).size(), 1u);
  auto got = ReadAll(*store, "hello");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, "hello");
}

TEST_P(WritableContentStoreConformanceTest, AbandonedWriterLeavesNothing) {
  MAKE_STORE_OR_RETURN(store);
  {
    auto w = store->Writer("abandoned");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->Write("partial"));
  }
  EXPECT_TRUE(WalkAll(*store).empty());
  EXPECT_TRUE(store->Writer("abandoned"));
}

TEST_P(WritableContentStoreConformanceTest, Delete) {
  MAKE_STORE_OR_RETURN(store, {"keep", "drop"});
  auto drop = oci::Digest::Sha256Of("drop");
  ASSERT_TRUE(store->Delete(drop));
  EXPECT_EQ(store->Info(drop).error().code(), Code::kNotFound);
  auto again = store->Delete(drop);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kNotFound);
  EXPECT_EQ(again.error().message(), NotFoundMessage(drop));
  auto left = WalkAll(*store);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].digest, oci::Digest::Sha256Of("keep"));
  // A deleted blob can be written again.
  ASSERT_TRUE(WriteBlob(*store, "drop"));
  EXPECT_TRUE(store->Info(drop));
}

TEST_P(WritableContentStoreConformanceTest, SameRefIsLocked) {
  MAKE_STORE_OR_RETURN(store);
  auto first = store->Writer("layer-1");
  ASSERT_TRUE(first) << first.error().message();
  auto second = store->Writer("layer-1");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), Code::kUnavailable);
  EXPECT_EQ(second.error().message(), "ref layer-1 is locked");
  EXPECT_TRUE(store->Writer("layer-2"));
  ASSERT_TRUE((*first)->Write("x"));
  ASSERT_TRUE((*first)->Commit(1, oci::Digest::Sha256Of("x")));
  // Commit releases the ref even while the writer object lives.
  EXPECT_TRUE(store->Writer("layer-1"));
}

TEST_P(WritableContentStoreConformanceTest, ConcurrentWritersWithDifferentRefs) {
  MAKE_STORE_OR_RETURN(store);
  constexpr int kThreads = 8;
  std::vector<std::string> blobs;
  for (int i = 0; i < kThreads; ++i) blobs.push_back(TestBytes(300000 + i, 100 + i));
  // Two threads also write the same content under different refs; both commits must succeed.
  blobs.push_back(blobs[0]);
  std::vector<std::string> errors(blobs.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < blobs.size(); ++i) {
    threads.emplace_back([&, i] {
      auto w = store->Writer("concurrent-" + std::to_string(i));
      if (!w) {
        errors[i] = w.error().message();
        return;
      }
      const std::string& data = blobs[i];
      for (size_t off = 0; off < data.size(); off += 65536) {
        auto s = (*w)->Write(std::string_view(data).substr(off, 65536));
        if (!s) {
          errors[i] = s.error().message();
          return;
        }
      }
      auto s = (*w)->Commit(static_cast<int64_t>(data.size()), oci::Digest::Sha256Of(data));
      if (!s) errors[i] = s.error().message();
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < blobs.size(); ++i) EXPECT_EQ(errors[i], "") << "writer " << i;
  EXPECT_EQ(WalkAll(*store).size(), static_cast<size_t>(kThreads));
  for (const std::string& blob : blobs) {
    auto got = ReadAll(*store, blob);
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_TRUE(*got == blob);
  }
}

TEST_P(WritableContentStoreConformanceTest, WriteBlobWithExpectedDigest) {
  MAKE_STORE_OR_RETURN(store);
  auto ok = WriteBlob(*store, "data", oci::Digest::Sha256Of("data"));
  ASSERT_TRUE(ok) << ok.error().message();
  auto bad = WriteBlob(*store, "data", oci::Digest::Sha256Of("other"));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kDataLoss);
}

}  // namespace
}  // namespace hoist::content
