// FaultInjectingFileSystem: a FileSystem for tests that wraps another one, counts every mutating
// operation that passes through it, and can make one of them fail or "crash" the process at it.
//
// Mutating operations, each counted once per call, in call order: CreateFile, Append, Sync,
// Close, Rename, Remove, MakeDirs, SyncDir, Link, SyncFile. Reads (OpenForRead, ReadAt, Size,
// Stat, ListDir) and Lock are never counted and never fail by injection, so a test can inspect
// what a failed or crashed operation left behind through the same object.
//
// Two kinds of fault:
// - FailAt(n, kind): operation number n fails once with an injected error (kDataLoss like EIO, or
//   kResourceExhausted like ENOSPC) without reaching the wrapped file system; later operations
//   run normally, as after a transient disk error.
// - CrashAt(n): operation n and every later mutating operation fail with kAborted and never
//   reach the wrapped file system, as if the process had died just before n. What earlier
//   operations did stays on disk. This models process death, not power loss: data written but
//   not yet synced survives, as it does in the kernel's page cache.
//
// Operation numbers are 0-based and count from construction or the last ResetCount(). A test
// typically runs a workload once with no fault to learn how many operations it takes, then
// once per n with a fault at n.
//
// Ownership: does not own the wrapped FileSystem, which must outlive this object and every file
// it hands out. Thread-safety: thread-safe, like every FileSystem; the numbering of concurrent
// operations follows the order in which they reach this object.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/file_system.h"

namespace hoist {

enum class FaultKind {
  kIoError,  // EIO-like: kDataLoss
  kNoSpace,  // ENOSPC-like: kResourceExhausted
};

class FaultInjectingFileSystem final : public FileSystem {
 public:
  explicit FaultInjectingFileSystem(FileSystem* base);
  ~FaultInjectingFileSystem() override;

  // Number of mutating operations seen since construction or ResetCount().
  int64_t mutating_ops() const { return count_.load(); }
  // One line per mutating operation since the last ResetCount(): `<n> <op> <path>`, with a
  // ` [failed]` or ` [crashed]` suffix for injected faults. For test failure messages.
  std::vector<std::string> op_log() const;
  // Restarts numbering at 0 and clears the log. Armed faults keep their numbers, which then
  // refer to the new numbering.
  void ResetCount();

  // Operation n fails once with `kind`.
  void FailAt(int64_t n, FaultKind kind = FaultKind::kIoError);
  // Operation n and all later mutating operations fail.
  void CrashAt(int64_t n);
  // Disarms faults and ends a crash.
  void ClearFaults();
  bool crashed() const;

  // FileSystem
  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) override;
  Result<std::unique_ptr<WritableFile>> CreateFile(const std::string& path, bool exclusive,
                                                   uint32_t mode = 0644) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status MakeDirs(const std::string& path, uint32_t mode = 0755) override;
  Result<std::optional<FileInfo>> Stat(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Status SyncDir(const std::string& path) override;
  Status Link(const std::string& from, const std::string& to) override;
  Status SyncFile(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> Lock(const std::string& path,
                                         bool remove_on_release = false) override;

  // Called by the wrapped files and the methods above: numbers the operation, logs it and
  // returns the injected error if it must fail. Public only for the file wrappers.
  Status BeforeMutation(std::string_view op, const std::string& path);

 private:
  FileSystem* const base_;
  std::atomic<int64_t> count_{0};

  mutable std::mutex mu_;
  std::vector<std::string> log_;               // guarded by mu_
  int64_t fail_at_ = -1;                       // guarded by mu_
  FaultKind fail_kind_ = FaultKind::kIoError;  // guarded by mu_
  int64_t crash_at_ = -1;                      // guarded by mu_
  bool crashed_ = false;                       // guarded by mu_
};

}  // namespace hoist
