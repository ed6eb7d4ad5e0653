// FileSystem: every file operation that the content store and OCI layouts perform goes through
// this interface, so tests can inject faults (see FaultInjectingFileSystem) at any step.
// PosixFileSystem() is the real one. Paths are plain strings; callers build them from
// validated components (digests are checked before they become file names).
//
// Thread-safety: implementations are thread-safe; file objects are used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist {

struct FileInfo {
  enum class Type { kRegular, kDirectory, kSymlink, kOther };
  Type type = Type::kOther;
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits
  int64_t mtime_ns = 0;
};

// A file open for reading at arbitrary offsets.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  // Reads up to n bytes at offset; returns 0 only at end of file.
  virtual Result<size_t> ReadAt(uint64_t offset, void* buf, size_t n) = 0;
  virtual Result<uint64_t> Size() = 0;
  // The underlying descriptor, or -1 for files that have none (fakes).
  virtual int fd() const { return -1; }
};

// A file open for appending. Close() must succeed for the data to count.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  // Makes everything appended readable through other descriptors; appending may go on.
  virtual Status Flush() = 0;
  // Flushes, and makes the data durable.
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// An exclusive advisory lock; released on destruction.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) = 0;
  // Creates (truncating unless `exclusive`, in which case an existing file is kAlreadyExists).
  virtual Result<std::unique_ptr<WritableFile>> CreateFile(const std::string& path,
                                                           bool exclusive, uint32_t mode = 0644) = 0;
  // Atomically replaces `to` with `from`.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file or an empty directory. A missing path is kNotFound.
  virtual Status Remove(const std::string& path) = 0;
  // Creates a directory and its missing parents; existing directories are fine.
  virtual Status MakeDirs(const std::string& path, uint32_t mode = 0755) = 0;
  // lstat: nullopt when the path does not exist.
  virtual Result<std::optional<FileInfo>> Stat(const std::string& path) = 0;
  // Names in a directory, without "." and "..", sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // Makes renames and creations in a directory durable.
  virtual Status SyncDir(const std::string& path) = 0;
  // Makes `to` a new hard link to the regular file `from`. An existing `to` is kAlreadyExists;
  // kFailedPrecondition when the file system cannot link these two (different file systems,
  // the file's link limit, no hard links at all), so a caller can copy instead.
  virtual Status Link(const std::string& from, const std::string& to) = 0;
  // Makes a file's data durable, whoever wrote it (fdatasync).
  virtual Status SyncFile(const std::string& path) = 0;
  // Takes an exclusive lock on `path` (created if missing), waiting for other holders. With
  // `remove_on_release` the lock file is deleted when the lock is released (as BuildKit does
  // with index.json.lock); waiters that then hold a deleted file notice and lock afresh.
  virtual Result<std::unique_ptr<FileLock>> Lock(const std::string& path,
                                                 bool remove_on_release = false) = 0;

  // Convenience built on the above.
  Result<std::string> ReadFile(const std::string& path, uint64_t max_size = UINT64_MAX);
  Result<bool> Exists(const std::string& path);
};

// The process-wide real file system.
FileSystem* PosixFileSystem();

// Joins two path pieces with exactly one '/'.
std::string JoinPath(std::string_view a, std::string_view b);

}  // namespace hoist
