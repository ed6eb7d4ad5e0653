// FsClientDir: a ClientDir over a real directory on the client's machine. The directory is
// opened once (an O_PATH descriptor this object owns); every later access goes through *at()
// calls relative to it with O_NOFOLLOW on each component, so nothing a walk or an open does
// can leave the directory, even if its contents change meanwhile.
//
// Thread-safety: thread-safe (the descriptor is only read).
#pragma once

#include <memory>
#include <string>

#include "base/unique_fd.h"
#include "session/session.h"

namespace hoist::session::internal {

class FsClientDir final : public ClientDir {
 public:
  // Opens `path`; errors may name it (they are the client's own).
  static Result<std::shared_ptr<FsClientDir>> Open(std::string name, const std::string& path);

  Status Walk(const WalkOptions& options, const std::function<Status(const FileEntry&)>& fn,
              CancelContext* cancel) override;
  Result<std::unique_ptr<ReadableFile>> OpenFile(std::string_view path) override;
  UniqueFd OpenInPlace() override;

 private:
  FsClientDir(std::string name, UniqueFd root) : name_(std::move(name)), root_(std::move(root)) {}

  std::string name_;
  UniqueFd root_;
};

}  // namespace hoist::session::internal
