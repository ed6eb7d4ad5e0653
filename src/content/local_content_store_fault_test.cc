// Fault and crash tests for LocalContentStore: a write+commit is run once per mutating file
// operation it performs, with that operation failing (EIO, ENOSPC) or the process "dying" at it,
// and the directory left behind is then reopened by a clean store on the real file system.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/fault_file_system.h"
#include "content/local_content_store.h"
#include "content/testing/content_store_conformance.h"

namespace hoist::content {
namespace {

enum class Fault { kNone, kIoError, kNoSpace, kCrash };

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kNone:
      return "none";
    case Fault::kIoError:
      return "EIO";
    case Fault::kNoSpace:
      return "ENOSPC";
    case Fault::kCrash:
      return "crash";
  }
  return "?";
}

constexpr size_t kChunk = 100000;

oci::Descriptor DescriptorOf(std::string_view data) {
  oci::Descriptor d;
  d.digest = oci::Digest::Sha256Of(data);
  d.size = static_cast<int64_t>(data.size());
  return d;
}

// Writes `data` in three chunks under one ref and commits it.
Status WriteAndCommit(ContentStore& store, const std::string& data) {
  HOIST_ASSIGN_OR_RETURN(auto w, store.Writer("crash-test"));
  for (size_t off = 0; off < data.size(); off += kChunk) {
    HOIST_TRY(w->Write(std::string_view(data).substr(off, kChunk)));
  }
  return w->Commit(static_cast<int64_t>(data.size()), oci::Digest::Sha256Of(data));
}

struct FaultRun {
  Status status;
  int64_t ops = 0;
  std::vector<std::string> log;
};

// In a fresh store at `dir` (optionally holding `existing` already), runs WriteAndCommit with
// `fault` at mutating operation `n` (counted from the Writer call). In the failure modes the
// same store then retries, which must succeed: an injected error is transient.
FaultRun RunWithFault(const std::string& dir, const std::string& data, const std::string* existing,
                      Fault fault, int64_t n) {
  FaultRun run;
  FaultInjectingFileSystem fs(PosixFileSystem());
  auto store = LocalContentStore::Open(&fs, dir);
  EXPECT_TRUE(store) << store.error().message();
  if (!store) return run;
  if (existing != nullptr) {
    EXPECT_TRUE(WriteBlob(**store, *existing));
  }
  fs.ResetCount();
  switch (fault) {
    case Fault::kNone:
      break;
    case Fault::kIoError:
      fs.FailAt(n, FaultKind::kIoError);
      break;
    case Fault::kNoSpace:
      fs.FailAt(n, FaultKind::kNoSpace);
      break;
    case Fault::kCrash:
      fs.CrashAt(n);
      break;
  }
  run.status = WriteAndCommit(**store, data);
  run.ops = fs.mutating_ops();
  run.log = fs.op_log();
  if (fault == Fault::kIoError || fault == Fault::kNoSpace) {
    fs.ClearFaults();  // a fault past the end of the first run must not hit the retry
    auto retry = WriteAndCommit(**store, data);
    EXPECT_TRUE(retry) << "retry after a transient fault: " << retry.error().message();
  }
  return run;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

// Reopens `dir` as a crash-recovering process would and checks the invariants.
void CheckRecovered(const std::string& dir, const std::string& data, const std::string* existing) {
  LocalContentStoreOptions options;
  options.stale_ingest_age = std::chrono::nanoseconds(0);  // everything left over is stale now
  auto store = LocalContentStore::Open(PosixFileSystem(), dir, options);
  ASSERT_TRUE(store) << store.error().message();
  const oci::Digest d = oci::Digest::Sha256Of(data);

  // The blob is absent, or complete and correct.
  auto info = (*store)->Info(d);
  if (info) {
    EXPECT_EQ(info->size, static_cast<int64_t>(data.size()));
    auto got = ReadBlob(**store, DescriptorOf(data), 16 << 20);
    ASSERT_TRUE(got) << got.error().message();
  } else {
    EXPECT_EQ(info.error().code(), Code::kNotFound) << info.error().message();
  }

  // Nothing else under blobs/, as Walk sees it and as the directory holds it.
  std::vector<oci::Digest> seen;
  ASSERT_TRUE((*store)->Walk([&seen](const BlobInfo& b) -> Status {
    seen.push_back(b.digest);
    return {};
  }));
  for (const oci::Digest& s : seen) {
    EXPECT_TRUE(s == d || (existing != nullptr && s == oci::Digest::Sha256Of(*existing)))
        << "unexpected blob " << s.str();
  }
  auto names = PosixFileSystem()->ListDir(JoinPath(dir, "blobs/sha256"));
  if (names) {
    EXPECT_EQ(names->size(), seen.size()) << "files under blobs/sha256 that are no blob";
  }
  if (existing != nullptr) {
    EXPECT_TRUE(ReadBlob(**store, DescriptorOf(*existing), 16 << 20)) << "the old blob survives";
  }

  // Leftover ingest files were cleaned by the read-write open.
  // (A crash before the first writer made the ingest dir leaves none at all.)
  if (*PosixFileSystem()->Exists(JoinPath(dir, "ingest"))) {
    auto ingest = PosixFileSystem()->ListDir(JoinPath(dir, "ingest"));
    ASSERT_TRUE(ingest);
    EXPECT_TRUE(ingest->empty()) << ingest->size() << " ingest files left";
  }

  // The store works: the same blob and a new one can be written.
  auto again = WriteAndCommit(**store, data);
  ASSERT_TRUE(again) << again.error().message();
  auto got = ReadBlob(**store, DescriptorOf(data), 16 << 20);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(*got == data);
  EXPECT_TRUE(WriteBlob(**store, "fresh after recovery"));
}

void RunAllFaultPoints(Fault fault, bool with_existing_blob) {
  const std::string data = TestBytes(3 * kChunk - 17, 42);
  const std::string existing_data = "an older blob";
  const std::string* existing = with_existing_blob ? &existing_data : nullptr;

  // A clean run tells how many mutating operations write+commit takes.
  int64_t clean_ops = 0;
  {
    auto dir = TempDir::Create("hoist-content-fault-");
    ASSERT_TRUE(dir);
    FaultRun clean = RunWithFault(dir->path(), data, existing, Fault::kNone, -1);
    ASSERT_TRUE(clean.status) << clean.status.error().message();
    clean_ops = clean.ops;
    // create, 3 appends, sync, close, rename, sync dir; for the very first blob also the
    // create that finds no ingest dir and the mkdir that makes it, and the mkdir and sync of
    // blobs/<alg>.
    EXPECT_EQ(clean_ops, with_existing_blob ? 8 : 12) << Join(clean.log);
  }

  for (int64_t n = 0; n <= clean_ops; ++n) {
    SCOPED_TRACE(std::string(FaultName(fault)) + " at operation " + std::to_string(n) +
                 (with_existing_blob ? " (blobs/sha256 exists)" : " (first blob)"));
    auto dir = TempDir::Create("hoist-content-fault-");
    ASSERT_TRUE(dir);
    FaultRun run = RunWithFault(dir->path(), data, existing, fault, n);
    if (n < clean_ops) {
      // Every operation of a write+commit matters, so its failure must be reported.
      EXPECT_FALSE(run.status) << "fault swallowed:\n" << Join(run.log);
      if (!run.status) {
        Code code = run.status.error().code();
        Code want = fault == Fault::kIoError   ? Code::kDataLoss
                    : fault == Fault::kNoSpace ? Code::kResourceExhausted
                                               : Code::kAborted;
        EXPECT_EQ(code, want) << run.status.error().message();
        EXPECT_EQ(run.status.error().message().find(dir->path()), std::string::npos)
            << "leaks the root: " << run.status.error().message();
      }
    } else {
      EXPECT_TRUE(run.status) << run.status.error().message();
    }
    ASSERT_NO_FATAL_FAILURE(CheckRecovered(dir->path(), data, existing));
  }
}

TEST(LocalContentStoreFaultTest, IoErrorAtEveryOperation) {
  RunAllFaultPoints(Fault::kIoError, /*with_existing_blob=*/false);
  RunAllFaultPoints(Fault::kIoError, /*with_existing_blob=*/true);
}

TEST(LocalContentStoreFaultTest, NoSpaceAtEveryOperation) {
  RunAllFaultPoints(Fault::kNoSpace, /*with_existing_blob=*/false);
  RunAllFaultPoints(Fault::kNoSpace, /*with_existing_blob=*/true);
}

TEST(LocalContentStoreFaultTest, CrashAtEveryOperation) {
  RunAllFaultPoints(Fault::kCrash, /*with_existing_blob=*/false);
  RunAllFaultPoints(Fault::kCrash, /*with_existing_blob=*/true);
}

// Committing content that is already present takes its own path (no rename); faults there
// must not damage the existing blob.
TEST(LocalContentStoreFaultTest, CrashWhileRecommittingAPresentBlob) {
  const std::string data = TestBytes(2 * kChunk, 9);
  for (int64_t n = 0; n <= 6; ++n) {
    SCOPED_TRACE("crash at operation " + std::to_string(n));
    auto dir = TempDir::Create("hoist-content-fault-");
    ASSERT_TRUE(dir);
    RunWithFault(dir->path(), data, &data, Fault::kCrash, n);
    ASSERT_NO_FATAL_FAILURE(CheckRecovered(dir->path(), data, &data));
  }
}

}  // namespace
}  // namespace hoist::content
