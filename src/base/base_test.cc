#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "base/atomic_file.h"
#include "base/background_queue.h"
#include "base/cancel.h"
#include "base/direct_io.h"
#include "base/error.h"
#include "base/file_system.h"
#include "base/hash.h"
#include "base/subprocess.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"

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

TEST(BackgroundQueueTest, RunsInOrderOffTheCallersThreadAndFinishesBeforeItGoes) {
  std::vector<int> done;
  std::mutex mu;
  std::atomic<bool> elsewhere{true};
  const auto caller = std::this_thread::get_id();
  {
    BackgroundQueue q;
    std::atomic<bool> release{false};
    q.Post([&] {
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    for (int i = 0; i < 5; ++i) {
      q.Post([&, i] {
        if (std::this_thread::get_id() == caller) elsewhere = false;
        std::lock_guard lock(mu);
        done.push_back(i);
      });
    }
    {
      std::lock_guard lock(mu);
      EXPECT_TRUE(done.empty());  // Post returned while the first item still runs
    }
    release = true;
    q.Drain();
    EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4}));
    q.Post([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::lock_guard lock(mu);
      done.push_back(5);
    });
  }  // the destructor waits for the last item
  EXPECT_EQ(done.size(), 6u);
  EXPECT_TRUE(elsewhere);
}

// Bytes appended across the buffered prefix, the staging buffer's edges, a gap of zeros and
// a flush in the middle all land where they belong; the descriptor is left without O_DIRECT.
TEST(DirectAppenderTest, WritesEveryByteWhereItBelongs) {
  auto dir = TempDir::Create("hoist-direct-test-");
  ASSERT_TRUE(dir);
  const std::string path = dir->path() + "/f";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd);
  std::string want(100, 'h');  // the caller's own header before `start`
  ASSERT_EQ(::pwrite(fd.get(), want.data(), want.size(), 0), 100);
  auto chunk = [](size_t n, unsigned seed) {
    std::string b(n, '\0');
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>(((i + seed) * 2654435761u) >> 9);
    return b;
  };
  bool direct = false;
  {
    DirectAppender out(fd.get(), 100, "test file");
    auto append = [&](const std::string& b) {
      ASSERT_TRUE(out.Append(b));
      want += b;
    };
    append(chunk(DirectAppender::kBufferedPrefix - 1000, 1));  // almost the whole prefix
    append(chunk(777, 2));
    append(chunk(DirectAppender::kStagingSize + 12345, 3));  // crosses into direct writes
    ASSERT_TRUE(out.Flush());                                // a partial block is staged
    append(chunk(3, 4));
    ASSERT_TRUE(out.ZeroTo(want.size() + 5000));
    want.append(5000, '\0');
    for (unsigned i = 0; i < 50; ++i) append(chunk(100'000 + i, 5 + i));
    ASSERT_TRUE(out.Flush());
    EXPECT_EQ(out.end(), want.size());
    direct = out.wrote_direct();
  }
  EXPECT_EQ(::fcntl(fd.get(), F_GETFL) & O_DIRECT, 0);
  std::string got(want.size() + 1, '\0');
  EXPECT_EQ(::pread(fd.get(), got.data(), got.size(), 0), static_cast<ssize_t>(want.size()));
  got.resize(want.size());
  EXPECT_TRUE(got == want);
  // Where the file system takes O_DIRECT (ext4, xfs, tmpfs since Linux 6.6), it was used.
  UniqueFd probe(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (probe) {
    EXPECT_TRUE(direct);
  }
}

// A file read back past its buffered prefix through staged direct reads (and their read
// ahead) gives its bytes in order, out of order and at its end, as pread does.
TEST(DirectReaderTest, ReadsWhatWasWritten) {
  auto dir = TempDir::Create("hoist-direct-test-");
  ASSERT_TRUE(dir);
  const std::string path = dir->path() + "/f";
  std::string want(DirectAppender::kBufferedPrefix + 2 * DirectAppender::kStagingSize + 9999, '\0');
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<char>((i * 2654435761u) >> 7);
  {
    UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    ASSERT_TRUE(out);
    DirectAppender appender(out.get(), 0, "test file");
    ASSERT_TRUE(appender.Append(want));
    ASSERT_TRUE(appender.Flush());
  }
  auto file = PosixFileSystem()->OpenForRead(path);
  ASSERT_TRUE(file);
  DirectReader reader(file->get(), path);
  auto read = [&](uint64_t offset, size_t n) {
    std::string got;
    while (got.size() < n) {
      std::string chunk(n - got.size(), '\0');
      auto r = reader.ReadAt(offset + got.size(), chunk.data(), chunk.size());
      EXPECT_TRUE(r) << r.error().message();
      if (!r || *r == 0) break;
      got.append(chunk.data(), *r);
    }
    return got;
  };
  std::string all;
  for (size_t n = 1000; all.size() < want.size(); n = n * 3 % 1'000'003 + 1) {
    std::string got = read(all.size(), n);
    if (got.empty()) break;
    all += got;
  }
  EXPECT_EQ(all.size(), want.size());
  EXPECT_TRUE(all == want);
  const uint64_t back = DirectAppender::kBufferedPrefix + 12345;  // behind what was staged last
  EXPECT_TRUE(read(back, 100'000) == want.substr(back, 100'000));
  EXPECT_TRUE(read(want.size() - 10, 100) == want.substr(want.size() - 10));
  EXPECT_TRUE(read(want.size() + 5, 10).empty());
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

TEST(Subprocess, ArgvEnvCwdInputAndExitCode) {
  auto dir = TempDir::Create("hoist-subprocess-");
  ASSERT_TRUE(dir);
  auto r = RunSubprocess({.argv = {"/bin/sh", "-c", "pwd; echo \"$ONLY\" \"$1\"; cat; echo err >&2; exit 3",
                                   "sh", "arg one"},
                          .env = std::vector<std::string>{"ONLY=set"},
                          .cwd = dir->path(),
                          .input = "from stdin\n"});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, dir->path() + "\nset arg one\nfrom stdin\n");
  EXPECT_EQ(r->err, "err\n");
  // Nothing of this process's environment leaks into a given one.
  ::setenv("HOIST_SUBPROCESS_TEST", "leak", 1);
  r = RunSubprocess({.argv = {"/bin/sh", "-c", "echo \"[$HOIST_SUBPROCESS_TEST]\""},
                     .env = std::vector<std::string>{}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "[]\n");
  r = RunSubprocess({.argv = {"/bin/sh", "-c", "echo \"[$HOIST_SUBPROCESS_TEST]\""}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "[leak]\n");
  ::unsetenv("HOIST_SUBPROCESS_TEST");
}

TEST(Subprocess, MissingProgramTimeoutOutputCapAndCancel) {
  auto r = RunSubprocess({.argv = {"/nonexistent/tool", "x"}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("run tool"), std::string::npos) << r.error().message();
  r = RunSubprocess({.argv = {"/bin/sleep", "10"}, .timeout = std::chrono::milliseconds(200)});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(r.error().message(), "sleep: no answer after 200 ms (killed)");
  r = RunSubprocess({.argv = {"/bin/sh", "-c", "yes"}, .max_output = 4096, .name = "yes"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(r.error().message(), "yes: more than 4096 bytes of output");
  auto cancel = CancelContext::Background();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    cancel->Cancel("build cancelled");
  });
  const auto start = std::chrono::steady_clock::now();
  r = RunSubprocess({.argv = {"/bin/sleep", "10"}, .cancel = cancel.get()});
  canceller.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kCancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace hoist
