#include <gtest/gtest.h>

#include <sys/stat.h>

#include "base/atomic_file.h"
#include "base/cancel.h"
#include "base/error.h"
#include "base/file_system.h"
#include "base/hash.h"
#include "base/temp_dir.h"

namespace hoist {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return MakeError(Code::kInvalidArgument, std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  HOIST_ASSIGN_OR_RETURN(int h, Half(x));
  HOIST_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(ErrorTest, PropagatesAndWraps) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "3 is odd");
  Error e = r.error();
  e.Wrap("step 2/3").Wrap("build");
  EXPECT_EQ(e.message(), "build: step 2/3: 3 is odd");
  EXPECT_EQ(e.code(), Code::kInvalidArgument);
}

TEST(ErrorTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoError(ENOENT, "open x").code(), Code::kNotFound);
  EXPECT_EQ(ErrnoError(EACCES, "open x").code(), Code::kPermissionDenied);
  EXPECT_EQ(ErrnoError(ENOENT, "open x").message(), "open x: No such file or directory");
}

TEST(HashTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Hasher h(HashAlgorithm::kSha256);
  h.Update("ab");
  h.Update("c");
  EXPECT_EQ(h.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Hasher h512(HashAlgorithm::kSha512);
  h512.Update("abc");
  EXPECT_EQ(h512.HexDigest(),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(TempDirTest, RemovedOnScopeExit) {
  std::string path;
  {
    auto d = TempDir::Create("hoist-test-");
    ASSERT_TRUE(d) << d.error().message();
    path = d->path();
    ASSERT_TRUE(WriteFileAtomic(PosixFileSystem(), path + "/f", "x"));
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(path + "/a/b/c"));
    ::chmod((path + "/a/b").c_str(), 0500);
  }
  struct stat st;
  EXPECT_NE(::lstat(path.c_str(), &st), 0);
}

TEST(AtomicFileTest, OnlyCommitMakesItVisible) {
  auto d = TempDir::Create();
  ASSERT_TRUE(d);
  FileSystem* fs = PosixFileSystem();
  std::string target = d->path() + "/index.json";
  ASSERT_TRUE(WriteFileAtomic(fs, target, "old"));
  {
    auto f = AtomicFile::Create(fs, target);
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->Append("new content"));
    EXPECT_EQ(*fs->ReadFile(target), "old");
  }  // discarded
  EXPECT_EQ(*fs->ReadFile(target), "old");
  EXPECT_EQ(fs->ListDir(d->path())->size(), 1u) << "temporary file left behind";
  auto f = AtomicFile::Create(fs, target);
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->Append("new"));
  ASSERT_TRUE(f->Commit());
  EXPECT_EQ(*fs->ReadFile(target), "new");
  EXPECT_EQ(fs->ListDir(d->path())->size(), 1u);
}

TEST(FileSystemTest, StatAndList) {
  auto d = TempDir::Create();
  ASSERT_TRUE(d);
  FileSystem* fs = PosixFileSystem();
  EXPECT_FALSE(fs->Stat(d->path() + "/missing")->has_value());
  ASSERT_TRUE(fs->MakeDirs(d->path() + "/x/y"));
  ASSERT_TRUE(WriteFileAtomic(fs, d->path() + "/b", "12345"));
  auto st = *fs->Stat(d->path() + "/b");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->size, 5u);
  EXPECT_EQ(st->type, FileInfo::Type::kRegular);
  EXPECT_EQ(*fs->ListDir(d->path()), (std::vector<std::string>{"b", "x"}));
  auto missing = fs->ReadFile(d->path() + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(fs->ReadFile(d->path() + "/b", 3).error().code(), Code::kResourceExhausted);
}

TEST(CancelTest, ChildrenFollowParent) {
  auto root = CancelContext::Background();
  auto child = root->Child();
  EXPECT_TRUE(child->Check());
  root->Cancel("interrupted");
  EXPECT_TRUE(child->cancelled());
  EXPECT_EQ(child->Check().error().message(), "interrupted");
  auto late = root->Child();
  EXPECT_TRUE(late->cancelled());
}

}  // namespace
}  // namespace hoist
