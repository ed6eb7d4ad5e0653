#include "cmd/engine.h"

#include "cmd/registry_wiring.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <map>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <mutex>

#include <fmt/format.h>

#include "base/file_system.h"
#include "base/log.h"
#include "executor/runc_executor.h"
#include "solver/ops/worker.h"

namespace hoist::cmd {

namespace {

// Where facts about this boot of the host are kept for every root (records name the boot they
// hold for); hoistd's default socket lives here too.
constexpr const char* kHostStateDir = "/run/hoist";

// Finds and starts the OCI runtime on the first run only: a fully cached build runs no
// container, so it pays for neither the start-up probe nor the stale-bundle sweep.
class LazyExecutor final : public executor::Executor {
 public:
  LazyExecutor(std::string runtime, std::string state_dir, control::StepLimits limits)
      : runtime_(std::move(runtime)), state_dir_(std::move(state_dir)), limits_(limits) {}

  Result<executor::ExitStatus> Run(const executor::RunRequest& request,
                                   CancelContext* cancel) override {
    executor::Executor* e = nullptr;
    {
      std::lock_guard lock(mu_);
      if (!executor_ && error_.empty()) {
        std::string runtime = runtime_;
        if (runtime.empty()) {
          auto found = executor::DefaultRuntime(
              state_dir_, kHostStateDir, executor::RuntimePreference(limits_.memory_bytes > 0));
          if (found) runtime = *found;
          else error_ = found.error().message();
        }
        if (!runtime.empty()) {
          auto ex = executor::RuncExecutor::Create(
              {.runtime = runtime,
               .state_dir = state_dir_,
               .memory_limit_bytes = limits_.memory_bytes,
               .pids_limit = limits_.pids});
          if (ex) executor_ = std::move(*ex);
          else error_ = ex.error().message();
        }
      }
      if (!executor_) {
        return MakeError(Code::kFailedPrecondition, "no OCI runtime works here: " + error_);
      }
      e = executor_.get();
    }
    return e->Run(request, cancel);
  }

 private:
  const std::string runtime_;
  const std::string state_dir_;
  const control::StepLimits limits_;
  std::mutex mu_;
  std::unique_ptr<executor::Executor> executor_;
  std::string error_;
};

// Opens the snapshotter `choice` names (EngineOptions::snapshotter) and says which it is.
Result<std::unique_ptr<snapshot::Snapshotter>> OpenSnapshotter(const std::string& root,
                                                               const std::string& choice,
                                                               int64_t layer_memory,
                                                               std::string* name) {
  snapshot::OverlaySnapshotterOptions erofs_options{.erofs_layers = true};
  if (layer_memory >= 0) erofs_options.memory_limit = layer_memory;
  const std::string shared = root + "/snapshots";
  const std::string native = root + "/snapshots-native";
  if (choice == "native") {
    *name = "native";
    return snapshot::OpenNativeSnapshotter(native);
  }
  if (choice == "overlayfs" || choice == "overlay") {
    *name = "overlayfs";
    return snapshot::OpenOverlaySnapshotter(shared);
  }
  if (choice == "erofs") {
    if (auto probe = snapshot::ProbeErofs(root); !probe) {
      return Unexpected(std::move(probe).error().Wrap(
          "snapshotter erofs: this kernel cannot mount EROFS images (use --snapshotter "
          "overlayfs)"));
    }
    *name = "erofs";
    return snapshot::OpenOverlaySnapshotter(shared, erofs_options);
  }
  if (!choice.empty()) {
    return MakeError(Code::kInvalidArgument, "unknown snapshotter \"" + choice +
                                                 "\" (choose erofs, overlayfs or native)");
  }
  if (auto probe = snapshot::ProbeErofs(root); probe) {
    auto erofs = snapshot::OpenOverlaySnapshotter(shared, erofs_options);
    if (erofs) {
      *name = "erofs";
      return erofs;
    }
    HOIST_LOG(kInfo, "EROFS snapshotter unavailable ({})", erofs.error().message());
  } else {
    HOIST_LOG(kInfo, "EROFS snapshotter unavailable ({})", probe.error().message());
  }
  auto overlay = snapshot::OpenOverlaySnapshotter(shared);
  if (overlay) {
    *name = "overlayfs";
    return overlay;
  }
  HOIST_LOG(kInfo, "overlay snapshotter unavailable ({}); using the native one",
            overlay.error().message());
  *name = "native";
  return snapshot::OpenNativeSnapshotter(native);
}

}  // namespace

Result<int64_t> ParseLayerMemory(const std::string& value) {
  if (value.empty()) return int64_t{-1};
  auto bytes = ParseStorageSize(value);
  if (!bytes) return Unexpected(std::move(bytes).error().Wrap("--layer-memory"));
  return bytes;
}

control::EngineParts Engine::parts() {
  return {.root = root_,
          .content = content_.get(),
          .snapshotter = snapshotter_.get(),
          .layers = layers_.get(),
          .executor = executor_.get(),
          .cache = cache_.get(),
          .sessions = &sessions_,
          .registry = registry_.get(),
          .image_names = image_names_.get(),
          .checksums = checksums_.get(),
          .allowed_entitlements = config_.insecure_entitlements};
}

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
  // Absolute: the runtime and the mounts are given paths below it from other directories.
  e->root_ = std::filesystem::absolute(options.root.empty() ? DefaultRoot() : options.root)
                 .lexically_normal()
                 .string();
  if (e->root_.size() > 1 && e->root_.back() == '/') e->root_.pop_back();
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(e->config_, control::EngineConfig::Load(options.config_file));
  if (options.insecure_entitlements) {
    auto allowed = solver::EntitlementSet::Parse(*options.insecure_entitlements);
    if (!allowed) {
      return Unexpected(std::move(allowed).error().Wrap("--allow-insecure-entitlement"));
    }
    e->config_.insecure_entitlements = *allowed;
  }
  HOIST_TRY(fs->MakeDirs(e->root_, 0700).map_error([&](Error err) {
    return std::move(err).Wrap("engine root " + e->root_);
  }));
  e->lock_ = UniqueFd(::open((e->root_ + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!e->lock_) return Unexpected(ErrnoError(errno, "engine root " + e->root_ + ": lock"));
  const bool exclusive = options.exclusive || !options.daemon_addrs.empty();
  // Alone on the root: the sweeps below are ours to make. A shared holder then steps down.
  bool alone = ::flock(e->lock_.get(), LOCK_EX | LOCK_NB) == 0;
  if (!alone && (exclusive || ::flock(e->lock_.get(), LOCK_SH | LOCK_NB) != 0)) {
    std::string holder(512, '\0');
    const ssize_t n = ::pread(e->lock_.get(), holder.data(), holder.size(), 0);
    holder.resize(n > 0 ? static_cast<size_t>(n) : 0);
    if (holder.starts_with("hoistd ")) {
      std::string addr = holder.substr(7);
      if (size_t sp = addr.find_first_of(" \n"); sp != std::string::npos) addr.resize(sp);
      return MakeError(Code::kFailedPrecondition,
                       fmt::format("the engine root {} is served by hoistd; build through it with "
                                   "--addr {} (or HOIST_HOST={})",
                                   e->root_, addr, addr));
    }
    if (!options.daemon_addrs.empty()) {
      return MakeError(Code::kFailedPrecondition,
                       fmt::format("the engine root {} is in use by another hoist", e->root_));
    }
    // An engine opening the root holds it alone for a moment: that is waited for quietly.
    const int op = exclusive ? LOCK_EX : LOCK_SH;
    bool got = false;
    for (int i = 0; i < 100 && !got; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      got = ::flock(e->lock_.get(), op | LOCK_NB) == 0;
    }
    if (!got) {
      std::fprintf(stderr,
                   exclusive ? "waiting for the other hoist processes using %s to finish\n"
                             : "waiting for another hoist using %s to finish\n",
                   e->root_.c_str());
      if (::flock(e->lock_.get(), op) != 0) {
        return Unexpected(ErrnoError(errno, "engine root " + e->root_ + ": lock"));
      }
    }
    alone = exclusive;
  }
  if (alone) {
    // Who holds the root now: a daemon names its addresses, anyone else nothing.
    std::string holder;
    if (!options.daemon_addrs.empty()) {
      holder = "hoistd";
      for (const std::string& a : options.daemon_addrs) holder += " " + a;
      holder += "\n";
      e->daemon_ = true;
    }
    if (::ftruncate(e->lock_.get(), 0) != 0 ||
        ::pwrite(e->lock_.get(), holder.data(), holder.size(), 0) !=
            static_cast<ssize_t>(holder.size())) {
      return Unexpected(ErrnoError(errno, "engine root " + e->root_ + ": lock"));
    }
    // A killed engine's mount points: nothing else runs on the root while we hold it alone.
    if (auto swept = solver::ops::RemoveStaleMountPoints(e->root_ + "/ops"); !swept) {
      HOIST_LOG(kWarning, "remove a killed build's mount points: {}", swept.error().message());
    } else if (*swept > 0) {
      HOIST_LOG(kInfo, "removed {} mount points a killed build left", *swept);
    }
  }
  // Another process's blob writer may be waiting on a slow network: only an engine alone on the
  // root takes an idle ingest file for a dead writer's.
  content::LocalContentStoreOptions content_options;
  content_options.trusted = true;
  if (!alone) content_options.stale_ingest_age = std::chrono::hours(24);
  HOIST_ASSIGN_OR_RETURN(e->content_, content::LocalContentStore::Open(fs, e->root_ + "/content",
                                                                       content_options));
  HOIST_ASSIGN_OR_RETURN(e->snapshotter_,
                         OpenSnapshotter(e->root_, options.snapshotter, options.layer_memory,
                                         &e->snapshotter_name_));
  e->layers_ = std::make_unique<snapshot::LayerCache>(*e->snapshotter_, *e->content_,
                                                      e->root_ + "/locks/layers");
  HOIST_ASSIGN_OR_RETURN(e->cache_, solver::CacheDb::Open(e->root_));
  if (options.need_registry) {
    HOIST_ASSIGN_OR_RETURN(e->registry_,
                           NewRegistryClient(options.config_file, e->root_ + "/registry",
                                             /*credentials=*/nullptr));
  }
  e->image_names_ = std::make_unique<source::LocalImageNames>(e->root_ + "/images");
  e->checksums_ = source::FileChecksumCache::Open(fs, e->root_ + "/checksums");
  if (options.need_executor) {
    e->executor_ = std::make_unique<LazyExecutor>(options.runtime, e->root_ + "/executor",
                                                  e->config_.step_limits);
  }
  // Set up: other builds may join (a conversion that lets a waiting holder in first is fine:
  // nothing of this engine runs yet).
  if (alone && !exclusive && ::flock(e->lock_.get(), LOCK_SH) != 0) {
    return Unexpected(ErrnoError(errno, "engine root " + e->root_ + ": lock"));
  }
  return e;
}

Engine::~Engine() {
  // Released: nobody serves the root any more.
  if (lock_ && daemon_) (void)::ftruncate(lock_.get(), 0);
}

}  // namespace hoist::cmd
