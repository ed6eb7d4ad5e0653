// UniqueFd: the single owner of a file descriptor; closes it on destruction. Move-only.
#pragma once

#include <string>
#include <utility>

namespace hoist {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership without closing.
  int Release() { return std::exchange(fd_, -1); }
  // Closes the current fd (if any) and takes `fd`.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Opens `rel` below the directory `root_fd` ("" for the directory itself) with `flags` plus
// O_NOFOLLOW | O_CLOEXEC, following no symlink on the way and never leaving the directory
// (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS); with O_PATH the
// last component may itself be a symlink. Invalid on failure, with errno set.
UniqueFd OpenBeneath(int root_fd, const std::string& rel, int flags);

}  // namespace hoist
