// TempDir: a directory created with a unique name that is removed, with everything in it,
// when the owner goes out of scope (unless Release()d). Move-only.
#pragma once

#include <string>

#include "base/error.h"

namespace hoist {

class TempDir {
 public:
  // Creates `<parent>/<prefix>XXXXXX`. parent defaults to $TMPDIR or /tmp.
  static Result<TempDir> Create(std::string_view prefix = "hoist-", std::string parent = "");

  TempDir() = default;
  ~TempDir();
  TempDir(TempDir&& o) noexcept;
  TempDir& operator=(TempDir&& o) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Keeps the directory: the destructor will not remove it.
  std::string Release();

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Removes a tree like `rm -rf`, without following symlinks; a missing path is not an error.
Status RemoveAll(const std::string& path);

}  // namespace hoist
