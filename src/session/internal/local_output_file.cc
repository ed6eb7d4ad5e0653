#include "session/internal/local_output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/unique_fd.h"

namespace hoist::session::internal {
namespace {

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(ErrnoError(errno, "write the output file"));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

class LocalOutputFile final : public OutputFile {
 public:
  // `fd` is owned unless `tmp` is empty (standard output).
  LocalOutputFile(int fd, std::string tmp, std::string dest, std::function<void()> done)
      : fd_(fd), tmp_(std::move(tmp)), dest_(std::move(dest)), done_(std::move(done)) {
    if (!tmp_.empty()) owned_ = UniqueFd(fd);
  }
  ~LocalOutputFile() override {
    if (!committed_ && !tmp_.empty()) {
      owned_.Reset();
      unlink(tmp_.c_str());
    }
    if (done_) done_();
  }

  Status Write(std::string_view data) override {
    if (failed_ || committed_) {
      return MakeError(Code::kFailedPrecondition, "the output file is closed");
    }
    Status st = WriteAll(fd_, data);
    if (!st) failed_ = true;
    return st;
  }

  Status Commit() override {
    if (failed_ || committed_) {
      return MakeError(Code::kFailedPrecondition, "the output file is closed");
    }
    failed_ = true;  // until proven otherwise
    if (tmp_.empty()) {
      committed_ = true;
      return OkStatus();
    }
    if (fsync(fd_) != 0) return Unexpected(ErrnoError(errno, "write the output file"));
    owned_.Reset();
    if (rename(tmp_.c_str(), dest_.c_str()) != 0) {
      return Unexpected(ErrnoError(errno, "move the output file into place"));
    }
    committed_ = true;
    failed_ = false;
    return OkStatus();
  }

 private:
  int fd_;
  UniqueFd owned_;
  std::string tmp_;
  std::string dest_;
  std::function<void()> done_;
  bool failed_ = false;
  bool committed_ = false;
};

}  // namespace

Result<std::unique_ptr<OutputFile>> OpenLocalOutputFile(const std::string& path,
                                                        std::function<void()> done) {
  if (path == "-") {
    return std::unique_ptr<OutputFile>(
        std::make_unique<LocalOutputFile>(STDOUT_FILENO, "", "", std::move(done)));
  }
  size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  for (int attempt = 0;; ++attempt) {
    std::string tmp =
        dir + (dir.back() == '/' ? "" : "/") + "." + base + ".hoist-" + NewRandomId().substr(0, 10);
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      return std::unique_ptr<OutputFile>(
          std::make_unique<LocalOutputFile>(fd, std::move(tmp), path, std::move(done)));
    }
    if (errno != EEXIST || attempt > 8) {
      int err = errno;
      if (done) done();
      return Unexpected(ErrnoError(err, "create the output file"));
    }
  }
}

}  // namespace hoist::session::internal
