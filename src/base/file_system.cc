#include "base/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/direct_io.h"
#include "base/unique_fd.h"

namespace hoist {
namespace {

class PosixReadableFile final : public ReadableFile {
 public:
  PosixReadableFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<size_t> ReadAt(uint64_t offset, void* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::pread(fd_.get(), buf, n, static_cast<off_t>(offset));
      if (r >= 0) return static_cast<size_t>(r);
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "read " + path_));
    }
  }
  Result<uint64_t> Size() override {
    struct stat st;
    if (::fstat(fd_.get(), &st) != 0) return Unexpected(ErrnoError(errno, "stat " + path_));
    return static_cast<uint64_t>(st.st_size);
  }
  int fd() const override { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string path_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(UniqueFd fd, std::string path)
      : fd_(std::move(fd)), path_(std::move(path)), out_(fd_.get(), 0, path_) {}
  // Large files (blobs) are written mostly around the page cache, and synced when committed.
  Status Append(std::string_view data) override { return out_.Append(data); }
  Status Flush() override { return out_.Flush(); }
  Status Sync() override {
    HOIST_TRY(out_.Flush());
    if (::fdatasync(fd_.get()) != 0) return Unexpected(ErrnoError(errno, "sync " + path_));
    return {};
  }
  Status Close() override {
    HOIST_TRY(out_.Flush());
    int fd = fd_.Release();
    if (fd >= 0 && ::close(fd) != 0) return Unexpected(ErrnoError(errno, "close " + path_));
    return {};
  }

 private:
  UniqueFd fd_;
  std::string path_;
  DirectAppender out_;
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(UniqueFd fd, std::string remove_path)
      : fd_(std::move(fd)), remove_path_(std::move(remove_path)) {}
  ~PosixFileLock() override {
    // Unlink before unlocking: a waiter that wakes up on this inode sees it is gone.
    if (!remove_path_.empty()) ::unlink(remove_path_.c_str());
    ::flock(fd_.get(), LOCK_UN);
  }

 private:
  UniqueFd fd_;
  std::string remove_path_;
};

class PosixFs final : public FileSystem {
 public:
  Result<std::unique_ptr<ReadableFile>> OpenForRead(const std::string& path) override {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Unexpected(ErrnoError(errno, "open " + path));
    return std::unique_ptr<ReadableFile>(new PosixReadableFile(std::move(fd), path));
  }
  Result<std::unique_ptr<WritableFile>> CreateFile(const std::string& path, bool exclusive,
                                                   uint32_t mode) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
    UniqueFd fd(::open(path.c_str(), flags, mode));
    if (!fd) return Unexpected(ErrnoError(errno, "create " + path));
    return std::unique_ptr<WritableFile>(new PosixWritableFile(std::move(fd), path));
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Unexpected(ErrnoError(errno, "rename " + from + " to " + to));
    }
    return {};
  }
  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) == 0) return {};
    if (errno == EISDIR || errno == EPERM) {
      if (::rmdir(path.c_str()) == 0) return {};
    }
    return Unexpected(ErrnoError(errno, "remove " + path));
  }
  Status MakeDirs(const std::string& path, uint32_t mode) override {
    if (path.empty()) return {};
    if (::mkdir(path.c_str(), mode) == 0) return {};
    if (errno == EEXIST) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return {};
      return MakeError(Code::kAlreadyExists, "mkdir " + path + ": exists and is not a directory");
    }
    if (errno != ENOENT) return Unexpected(ErrnoError(errno, "mkdir " + path));
    auto slash = path.find_last_of('/');
    if (slash == std::string::npos || slash == 0) return Unexpected(ErrnoError(ENOENT, "mkdir " + path));
    HOIST_TRY(MakeDirs(path.substr(0, slash), mode));
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
      return Unexpected(ErrnoError(errno, "mkdir " + path));
    }
    return {};
  }
  Result<std::optional<FileInfo>> Stat(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::optional<FileInfo>();
      return Unexpected(ErrnoError(errno, "stat " + path));
    }
    FileInfo fi;
    fi.type = S_ISREG(st.st_mode)   ? FileInfo::Type::kRegular
              : S_ISDIR(st.st_mode) ? FileInfo::Type::kDirectory
              : S_ISLNK(st.st_mode) ? FileInfo::Type::kSymlink
                                    : FileInfo::Type::kOther;
    fi.size = static_cast<uint64_t>(st.st_size);
    fi.mode = st.st_mode & 07777;
    fi.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    return std::optional<FileInfo>(fi);
  }
  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return Unexpected(ErrnoError(errno, "list " + path));
    std::vector<std::string> names;
    while (struct dirent* de = ::readdir(d)) {
      std::string_view n = de->d_name;
      if (n == "." || n == "..") continue;
      names.emplace_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  Status SyncDir(const std::string& path) override {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Unexpected(ErrnoError(errno, "open " + path));
    // Syncing a directory on a read-only or special file system may be refused; that is
    // not a durability problem for what we wrote (nothing was).
    if (::fsync(fd.get()) != 0 && errno != EINVAL && errno != EROFS) {
      return Unexpected(ErrnoError(errno, "sync " + path));
    }
    return {};
  }
  Status Link(const std::string& from, const std::string& to) override {
    if (::link(from.c_str(), to.c_str()) == 0) return {};
    int err = errno;
    if (err == EXDEV || err == EMLINK || err == EPERM || err == EOPNOTSUPP) {
      return MakeError(Code::kFailedPrecondition,
                       "link " + from + " to " + to + ": " + std::strerror(err));
    }
    return Unexpected(ErrnoError(err, "link " + from + " to " + to));
  }
  Status SyncFile(const std::string& path) override {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Unexpected(ErrnoError(errno, "open " + path));
    if (::fdatasync(fd.get()) != 0) return Unexpected(ErrnoError(errno, "sync " + path));
    return {};
  }
  Result<std::unique_ptr<FileLock>> Lock(const std::string& path,
                                         bool remove_on_release) override {
    for (;;) {
      UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
      if (!fd) return Unexpected(ErrnoError(errno, "open lock " + path));
      while (::flock(fd.get(), LOCK_EX) != 0) {
        if (errno != EINTR) return Unexpected(ErrnoError(errno, "lock " + path));
      }
      // The previous holder may have removed the file while we waited; then our lock is on a
      // dead inode and someone else may already hold the new one.
      struct stat held, now;
      if (::fstat(fd.get(), &held) != 0) return Unexpected(ErrnoError(errno, "stat " + path));
      if (::stat(path.c_str(), &now) != 0) {
        if (errno == ENOENT) continue;
        return Unexpected(ErrnoError(errno, "stat " + path));
      }
      if (held.st_ino != now.st_ino || held.st_dev != now.st_dev) continue;
      return std::unique_ptr<FileLock>(
          new PosixFileLock(std::move(fd), remove_on_release ? path : std::string()));
    }
  }
};

}  // namespace

Result<std::string> FileSystem::ReadFile(const std::string& path, uint64_t max_size) {
  HOIST_ASSIGN_OR_RETURN(auto f, OpenForRead(path));
  HOIST_ASSIGN_OR_RETURN(uint64_t size, f->Size());
  if (size > max_size) {
    return MakeError(Code::kResourceExhausted,
                     path + ": file is " + std::to_string(size) + " bytes, limit " +
                         std::to_string(max_size));
  }
  std::string out(size, '\0');
  uint64_t off = 0;
  while (off < size) {
    HOIST_ASSIGN_OR_RETURN(size_t n, f->ReadAt(off, out.data() + off, size - off));
    if (n == 0) break;
    off += n;
  }
  out.resize(off);
  return out;
}

Result<bool> FileSystem::Exists(const std::string& path) {
  HOIST_ASSIGN_OR_RETURN(auto st, Stat(path));
  return st.has_value();
}

FileSystem* PosixFileSystem() {
  static PosixFs* fs = new PosixFs();
  return fs;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  std::string out(a);
  if (out.back() != '/') out.push_back('/');
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  out.append(b);
  return out;
}

}  // namespace hoist
