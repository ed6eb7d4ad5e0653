#include "cmd/engine.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "base/file_system.h"
#include "base/log.h"
#include "executor/runc_executor.h"

namespace hoist::cmd {

std::string DefaultRoot() {
  if (const char* env = std::getenv("HOIST_ROOT"); env != nullptr && *env != '\0') return env;
  if (::geteuid() == 0) return "/var/lib/hoist";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/hoist";
  }
  const char* home = std::getenv("HOME");
  return std::string(home ? home : ".") + "/.local/share/hoist";
}

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options) {
  std::unique_ptr<Engine> e(new Engine());
  e->root_ = options.root.empty() ? DefaultRoot() : options.root;
  FileSystem* fs = PosixFileSystem();
  HOIST_TRY(fs->MakeDirs(e->root_, 0700).map_error([&](Error err) {
    return std::move(err).Wrap("engine root " + e->root_);
  }));
  e->lock_ = UniqueFd(::open((e->root_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!e->lock_) return Unexpected(ErrnoError(errno, "engine root " + e->root_ + ": lock"));
  if (::flock(e->lock_.get(), LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "waiting for another hoist using %s to finish\n", e->root_.c_str());
    if (::flock(e->lock_.get(), LOCK_EX) != 0) {
      return Unexpected(ErrnoError(errno, "engine root " + e->root_ + ": lock"));
    }
  }
  HOIST_ASSIGN_OR_RETURN(e->content_, content::LocalContentStore::Open(fs, e->root_ + "/content"));
  auto overlay = snapshot::OpenOverlaySnapshotter(e->root_ + "/snapshots");
  if (overlay) {
    e->snapshotter_ = std::move(*overlay);
  } else {
    HOIST_LOG(kInfo, "overlay snapshotter unavailable ({}); using the native one",
              overlay.error().message());
    HOIST_ASSIGN_OR_RETURN(e->snapshotter_,
                           snapshot::OpenNativeSnapshotter(e->root_ + "/snapshots-native"));
  }
  e->layers_ = std::make_unique<snapshot::LayerCache>(*e->snapshotter_, *e->content_);
  HOIST_ASSIGN_OR_RETURN(e->cache_, solver::CacheDb::Open(e->root_));
  if (options.need_executor) {
    const std::string state = e->root_ + "/executor";
    std::string runtime = options.runtime;
    if (runtime.empty()) {
      auto found = executor::DefaultRuntime(state);
      if (found) runtime = *found;
      else e->executor_error_ = found.error().message();
    }
    if (!runtime.empty()) {
      auto ex = executor::RuncExecutor::Create({.runtime = runtime, .state_dir = state});
      if (ex) {
        e->executor_ = std::move(*ex);
      } else {
        e->executor_error_ = ex.error().message();
      }
    }
  }
  return e;
}

Engine::~Engine() = default;

}  // namespace hoist::cmd
