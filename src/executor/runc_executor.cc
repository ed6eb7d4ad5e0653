#include "executor/runc_executor.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/file_system.h"
#include "base/host.h"
#include "base/log.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "executor/etc_files.h"
#include "executor/internal/bundle.h"
#include "executor/internal/process.h"
#include "executor/spec.h"
#include "executor/user.h"

namespace hoist::executor {
namespace {

using internal::ChildProcess;

Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return Unexpected(ErrnoError(errno, fmt::format("create directory {}", path)));
  }
  return OkStatus();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') HOIST_TRY(MakeDir(path.substr(0, i), mode));
  }
  return OkStatus();
}

std::string RandomId() {
  std::random_device rd;
  return fmt::format("hoist-{:08x}{:08x}", rd(), rd());
}

size_t Depth(const std::string& path) {
  return static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
}

bool IsCrun(const std::string& runtime_path) {
  const std::string name = runtime_path.substr(runtime_path.rfind('/') + 1);
  return name.find("crun") != std::string::npos;
}

// runc has `run --keep`; crun has not.
bool KeepsContainers(const std::string& runtime_path) { return !IsCrun(runtime_path); }

// The type (statfs f_type) of the file system holding `path`; nullopt where there is none.
std::optional<decltype(statfs::f_type)> FsType(const char* path) {
  struct statfs fs;
  if (::statfs(path, &fs) != 0) return std::nullopt;
  return fs.f_type;
}

// Hybrid cgroups: v1 controllers under a tmpfs at /sys/fs/cgroup, with a cgroup2 hierarchy
// mounted at /sys/fs/cgroup/unified beside them.
bool HybridCgroups() {
  return FsType("/sys/fs/cgroup") == TMPFS_MAGIC &&
         FsType("/sys/fs/cgroup/unified") == CGROUP2_SUPER_MAGIC;
}

// crun (1.8) refuses a hybrid host whose cgroup2 hierarchy has controllers. The engine's own
// mount namespace drops that mount (once; the host keeps it), so the runtimes it starts see the
// v1 controllers alone and manage those, as runc does on such a host. Outside a namespace of
// its own (EnterPrivateMountNamespace) nothing is changed.
void HideUnifiedCgroup() {
  static std::mutex mu;
  std::lock_guard lock(mu);
  // Once detached, the directory left there is on the tmpfs: nothing is done twice.
  if (!InPrivateMountNamespace() || !HybridCgroups()) return;
  if (::umount2("/sys/fs/cgroup/unified", MNT_DETACH) != 0) {
    HOIST_LOG(kDebug, "executor: detach /sys/fs/cgroup/unified: {}", std::strerror(errno));
  }
}

// Where crun puts this engine's containers: crun takes cgroupsPath from the root of every
// hierarchy, where runc nests a container under the caller's own cgroup in each. So crun is
// given the engine's deepest cgroup, which must have the engine's cgroup in every other
// hierarchy as a prefix: then each container is inside the engine's cgroups, as with runc.
// `proc_cgroup` is /proc/self/cgroup's text; `with_v2`: whether the runtime sees the cgroup2
// hierarchy (its "0::" line).
Result<std::string> CrunCgroupParent(const std::string& proc_cgroup, bool with_v2) {
  std::vector<std::string> paths;
  std::istringstream in(proc_cgroup);
  std::string line;
  while (std::getline(in, line)) {
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const bool v2 = line.compare(0, a + 1, "0:") == 0 && b == a + 1;
    if (v2 && !with_v2) continue;
    paths.push_back(line.substr(b + 1));
  }
  if (paths.empty()) return std::string("/");
  const std::string deepest = *std::max_element(
      paths.begin(), paths.end(),
      [](const std::string& x, const std::string& y) { return x.size() < y.size(); });
  for (const std::string& p : paths) {
    const bool inside =
        p == "/" || deepest == p || (deepest.starts_with(p) && deepest[p.size()] == '/');
    if (!inside) {
      return MakeError(Code::kFailedPrecondition,
                       fmt::format("the engine's cgroups {} and {} are not nested, and crun would "
                                   "place containers outside one of them",
                                   p, deepest));
    }
  }
  return deepest;
}

// `oom_kill N` from a cgroup's memory.oom_control (v1) or memory.events (v2); 0 if absent.
uint64_t OomKillCount(const std::string& file) {
  std::ifstream in(file);
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return 0;
}

// How many processes the OOM killer took from a stopped container, from the cgroups runc's
// state.json (`cgroup_paths`: subsystem → directory; "" is the v2 tree) names.
uint64_t OomKills(const std::string& state_json) {
  std::ifstream in(state_json);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("cgroup_paths") || !j["cgroup_paths"].is_object()) return 0;
  const nlohmann::json& paths = j["cgroup_paths"];
  uint64_t kills = 0;
  if (paths.contains("memory") && paths["memory"].is_string()) {
    kills += OomKillCount(paths["memory"].get<std::string>() + "/memory.oom_control");
  }
  if (paths.contains("") && paths[""].is_string()) {
    kills += OomKillCount(paths[""].get<std::string>() + "/memory.events");
  }
  return kills;
}

// "64MiB" for a round number of MiB, else bytes.
std::string FormatLimit(int64_t bytes) {
  if (bytes % (1 << 30) == 0) return fmt::format("{}GiB", bytes >> 30);
  if (bytes % (1 << 20) == 0) return fmt::format("{}MiB", bytes >> 20);
  return fmt::format("{} bytes", bytes);
}

// The runtime's error messages from its --log file (JSON lines with "level" and "msg").
std::string RuntimeErrors(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line, out;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || j.value("level", "") != "error") continue;
    std::string msg = j.value("msg", "");
    if (msg.empty()) continue;
    if (!out.empty()) out += "; ";
    out += msg;
  }
  return out;
}

// Everything one Run() owns. Release() deletes the container, then unmounts (last first and
// then anything else still mounted under the bundle), and removes the bundle directory only
// when nothing is mounted in it any more.
class Bundle {
 public:
  Bundle(std::string runtime, std::string runtime_root, std::string id, std::string dir)
      : runtime_(std::move(runtime)),
        runtime_root_(std::move(runtime_root)),
        id_(std::move(id)),
        dir_(std::move(dir)) {}
  ~Bundle() { (void)Release(); }
  Bundle(const Bundle&) = delete;
  Bundle& operator=(const Bundle&) = delete;

  const std::string& id() const { return id_; }
  const std::string& dir() const { return dir_; }
  std::vector<ScopedMount>& mounts() { return mounts_; }

  Status Release() {
    if (released_) return OkStatus();
    released_ = true;
    Status first;
    // Delete the container. `run` deletes it itself when the process exits, and the runtime
    // keeps a container's state in `<root>/<id>` until it is deleted; only a container whose
    // state is still there (the runtime was killed or failed half-way) needs a `delete`, which
    // costs a runtime start.
    if (ContainerStateExists()) {
      auto del =
          internal::RunCapture({runtime_, "--root", runtime_root_, "delete", "--force", id_});
      if (del && del->exit_code != 0 && del->err.find("does not exist") == std::string::npos &&
          del->err.find("not found") == std::string::npos) {
        HOIST_LOG(kWarning, "{} delete {}: {}", runtime_, id_, del->err);
      }
    }
    while (!mounts_.empty()) {
      Status s = mounts_.back().Unmount();
      if (!s && first) first = s;
      mounts_.pop_back();
    }
    Status un = UnmountAllUnder(dir_);
    if (!un) {
      // Never remove a tree that still has something mounted in it.
      return Unexpected(std::move(un).error().Wrap(fmt::format("clean up bundle {}", id_)));
    }
    HOIST_TRY(RemoveAll(dir_));
    return first;
  }

 private:
  // True unless the runtime surely has no state for the container (an lstat error other than
  // ENOENT counts as state).
  bool ContainerStateExists() const {
    struct stat st;
    return ::lstat((runtime_root_ + "/" + id_).c_str(), &st) == 0 || errno != ENOENT;
  }

  std::string runtime_, runtime_root_, id_, dir_;
  std::vector<ScopedMount> mounts_;
  bool released_ = false;
};

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> MakePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Unexpected(ErrnoError(errno, "pipe"));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Pumps the container's output into the sinks until the runtime exits and the pipes close,
// killing the container when `cancel` fires. Returns the runtime's wait status.
//
// The runtime's exit wakes the loop through its pidfd: the pipes close as the runtime exits,
// a moment before it can be reaped, and a timed poll would add its whole interval to every
// RUN. Timeouts remain only to check for cancellation, for the orphans' grace period, and on
// kernels without pidfds.
int Supervise(ChildProcess& runtime_process, UniqueFd out, UniqueFd err, const RunRequest& req,
              CancelContext* cancel, const std::string& runtime, const std::string& root,
              const std::string& id, bool* cancelled) {
  using Clock = std::chrono::steady_clock;
  UniqueFd exited = runtime_process.ExitFd();
  struct pollfd pfds[3] = {
      {out.get(), POLLIN, 0}, {err.get(), POLLIN, 0}, {exited.get(), POLLIN, 0}};
  const OutputSink* sinks[2] = {&req.stdout_sink, &req.stderr_sink};
  std::optional<int> status;
  Clock::time_point exited_at, cancelled_at, last_kill;
  char buf[32768];
  while (true) {
    bool open = pfds[0].fd >= 0 || pfds[1].fd >= 0;
    if (status && !open) break;
    // Orphans holding the pipes cannot outlive the container's pid namespace, but do not hang
    // on them if the runtime is gone.
    if (status && Clock::now() - exited_at > std::chrono::seconds(2)) break;
    int timeout_ms = 100;
    if (!status && !open && !exited) timeout_ms = 5;  // only the exit left to notice
    if (!status && exited && cancel == nullptr) timeout_ms = -1;
    int r = ::poll(pfds, 3, timeout_ms);
    if (r > 0) {
      for (int i = 0; i < 2; ++i) {
        if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
        ssize_t n = ::read(pfds[i].fd, buf, sizeof(buf));
        if (n > 0) {
          if (*sinks[i]) (*sinks[i])(std::string_view(buf, static_cast<size_t>(n)));
        } else if (n == 0 || errno != EINTR) {
          pfds[i].fd = -1;
        }
      }
    }
    if (!status) {
      status = runtime_process.TryWait();
      if (status) {
        exited_at = Clock::now();
        pfds[2].fd = -1;  // stays readable
      }
    }
    if (!status && cancel != nullptr && cancel->cancelled()) {
      auto now = Clock::now();
      if (!*cancelled) {
        *cancelled = true;
        cancelled_at = now;
      }
      // Until the container exists `kill` fails; retry, and as a last resort stop the runtime.
      if (now - last_kill > std::chrono::milliseconds(200)) {
        last_kill = now;
        (void)internal::RunCapture({runtime, "--root", root, "kill", id, "KILL"});
      }
      if (now - cancelled_at > std::chrono::seconds(10)) runtime_process.Kill(SIGKILL);
    }
  }
  if (!status) status = runtime_process.Wait();
  return *status;
}

}  // namespace

Result<std::string> FindRuntime(const std::string& name) {
  if (name.empty()) return MakeError(Code::kInvalidArgument, "runtime: empty name");
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) {
      return Unexpected(ErrnoError(errno, fmt::format("runtime {}", name)));
    }
    if (name[0] == '/') return name;
    char* abs = ::realpath(name.c_str(), nullptr);
    if (abs == nullptr) return Unexpected(ErrnoError(errno, fmt::format("runtime {}", name)));
    std::string out(abs);
    ::free(abs);
    return out;
  }
  const char* path = ::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::istringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return MakeError(Code::kNotFound, fmt::format("runtime \"{}\": not found in PATH", name));
}

RuncExecutor::RuncExecutor(RuncExecutorOptions options, std::string runtime_path)
    : options_(std::move(options)),
      runtime_path_(std::move(runtime_path)),
      runtime_root_(options_.state_dir + "/runtime"),
      bundles_dir_(options_.state_dir + "/bundles") {}

Result<std::unique_ptr<RuncExecutor>> RuncExecutor::Create(RuncExecutorOptions options) {
  if (options.state_dir.empty() || options.state_dir[0] != '/') {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("executor state dir \"{}\": must be an absolute path",
                                 options.state_dir));
  }
  while (options.state_dir.size() > 1 && options.state_dir.back() == '/') {
    options.state_dir.pop_back();
  }
  HOIST_ASSIGN_OR_RETURN(std::string path, FindRuntime(options.runtime));
  if (options.memory_limit_bytes < 0 || options.pids_limit < 0) {
    return MakeError(Code::kInvalidArgument, "executor limits: must not be negative");
  }
  std::unique_ptr<RuncExecutor> e(new RuncExecutor(std::move(options), std::move(path)));
  e->host_ = HostSpecInput();
  if (IsCrun(e->runtime_path_)) {
    HideUnifiedCgroup();
    std::ifstream in("/proc/self/cgroup");
    std::stringstream text;
    text << in.rdbuf();
    // The cgroup2 hierarchy is the runtime's on a host with it alone, or where it stays mounted.
    const auto unified = FsType("/sys/fs/cgroup/unified");
    auto parent = CrunCgroupParent(text.str(), !unified || *unified == CGROUP2_SUPER_MAGIC);
    if (!parent) {
      return Unexpected(
          std::move(parent).error().Wrap(fmt::format("runtime {}", e->runtime_path_)));
    }
    e->crun_cgroup_parent_ = *parent == "/" ? "" : *parent;
  }
  HOIST_TRY(MakeDirs(e->options_.state_dir, 0700));
  HOIST_TRY(MakeDir(e->runtime_root_, 0700));
  HOIST_TRY(MakeDir(e->bundles_dir_, 0700));
  HOIST_TRY(e->CleanupStale());
  HOIST_ASSIGN_OR_RETURN(std::vector<std::string> states,
                         PosixFileSystem()->ListDir(e->runtime_root_));
  if (states.empty()) {
    HOIST_TRY(UnmountAllUnder(e->runtime_root_));
    e->MountScratch(e->runtime_root_, &e->runtime_mount_);
  } else {
    HOIST_LOG(kWarning, "executor: {} still holds containers that could not be deleted: {}",
              e->runtime_root_, fmt::join(states, ", "));
  }
  e->MountScratch(e->bundles_dir_, &e->bundles_mount_);
  return e;
}

void RuncExecutor::MountScratch(const std::string& dir, ScopedMount* mount) {
  auto m = MountAll({Mount{.type = "tmpfs",
                           .source = "tmpfs",
                           .options = {"nosuid", "nodev", "mode=0700", "size=64m"}}},
                    dir);
  if (!m) {
    HOIST_LOG(kInfo, "executor: {} stays on disk: {}", dir, m.error().message());
    return;
  }
  *mount = std::move(*m);
}

Status RuncExecutor::CleanupStale() {
  // Containers the runtime still knows about under our root. It keeps one directory per
  // container there, so an empty root spares the `list` (a runtime start).
  HOIST_ASSIGN_OR_RETURN(std::vector<std::string> states,
                         PosixFileSystem()->ListDir(runtime_root_));
  if (!states.empty()) {
    HOIST_ASSIGN_OR_RETURN(internal::Captured list,
                           internal::RunCapture({runtime_path_, "--root", runtime_root_, "list",
                                                 "--quiet"}));
    std::istringstream in(list.exit_code == 0 ? list.out : "");
    std::string id;
    while (std::getline(in, id)) {
      if (id.empty()) continue;
      HOIST_LOG(kInfo, "executor: deleting stale container {}", id);
      (void)internal::RunCapture({runtime_path_, "--root", runtime_root_, "delete", "--force", id});
    }
  }
  // Bundles a crash left behind: unmount whatever is still mounted, then remove. The
  // directory itself stays: another process on the root has its scratch tmpfs mounted on it
  // (in its own mount namespace), and removing a mount point detaches such mounts.
  HOIST_TRY(UnmountAllUnder(bundles_dir_));
  HOIST_ASSIGN_OR_RETURN(std::vector<std::string> leftovers,
                         PosixFileSystem()->ListDir(bundles_dir_));
  for (const std::string& name : leftovers) HOIST_TRY(RemoveAll(bundles_dir_ + "/" + name));
  return OkStatus();
}

Result<ExitStatus> RuncExecutor::Run(const RunRequest& req, CancelContext* cancel) {
  if (req.process.args.empty()) {
    return MakeError(Code::kInvalidArgument, "run: process args are empty");
  }
  if (req.rootfs.empty()) return MakeError(Code::kInvalidArgument, "run: no rootfs mounts");
  if (cancel != nullptr) HOIST_TRY(cancel->Check());

  const std::string id = RandomId();
  Bundle bundle(runtime_path_, runtime_root_, id, bundles_dir_ + "/" + id);
  HOIST_TRY(MakeDir(bundle.dir(), 0700));
  const std::string rootfs = bundle.dir() + "/rootfs";
  HOIST_TRY(MakeDir(rootfs, 0755));
  {
    auto m = MountAll(req.rootfs, rootfs);
    if (!m) return Unexpected(std::move(m).error().Wrap("mount rootfs"));
    bundle.mounts().push_back(std::move(*m));
  }

  SpecInput spec = host_;
  if (crun_cgroup_parent_) spec.cgroups_path = *crun_cgroup_parent_ + "/" + id;
  spec.rootfs_path = "rootfs";
  spec.rootfs_read_only = req.rootfs_read_only;
  spec.args = req.process.args;
  spec.env = req.process.env;
  if (std::none_of(spec.env.begin(), spec.env.end(),
                   [](const std::string& e) { return e.rfind("PATH=", 0) == 0; })) {
    spec.env.insert(spec.env.begin(), kDefaultPathEnv);
  }
  spec.env.insert(spec.env.end(), req.secret_env.begin(), req.secret_env.end());
  spec.cwd = req.process.cwd.empty() ? "/" : req.process.cwd;
  {
    HOIST_ASSIGN_OR_RETURN(auto passwd, ReadRootfsFile(rootfs, "etc/passwd"));
    HOIST_ASSIGN_OR_RETURN(auto group, ReadRootfsFile(rootfs, "etc/group"));
    auto user = ResolveUser(req.process.user, req.process.additional_groups, passwd, group);
    if (!user) return Unexpected(std::move(user).error());
    spec.user = *user;
  }
  spec.hostname = req.hostname;
  spec.network = req.network;
  spec.security = req.security;
  spec.ulimits = req.ulimits;
  spec.host_hard_limits = HostHardLimits();
  spec.host_capabilities = HostCapabilities();
  spec.memory_limit_bytes = options_.memory_limit_bytes;
  spec.pids_limit = options_.pids_limit;

  // /etc files.
  const bool host_network = req.network != NetworkMode::kNone;
  std::string host_resolv;
  {
    std::ifstream in(options_.host_resolv_conf);
    std::stringstream ss;
    ss << in.rdbuf();
    host_resolv = ss.str();
  }
  struct EtcFile {
    const char* name;
    std::string data;
  };
  const EtcFile etc_files[] = {
      {"hosts", GenerateHosts(req.hostname, req.extra_hosts)},
      {"resolv.conf", GenerateResolvConf(host_resolv, host_network)},
      {"hostname", GenerateHostname(req.hostname)},
  };
  std::vector<SpecMount> mounts;
  for (const EtcFile& f : etc_files) {
    std::string path = bundle.dir() + "/" + f.name;
    HOIST_TRY(internal::WriteFileWithMode(path, f.data, 0644));
    mounts.push_back({std::string("/etc/") + f.name, "bind", path, {"rbind", "ro"}});
  }

  // Extra mounts.
  std::string secrets_dir;
  for (size_t i = 0; i < req.mounts.size(); ++i) {
    const ExecMount& m = req.mounts[i];
    const std::string rw = m.read_only ? "ro" : "rw";
    switch (m.kind) {
      case ExecMount::Kind::kMounts: {
        std::string point = fmt::format("{}/mnt{}", bundle.dir(), i);
        HOIST_TRY(MakeDir(point, 0755));
        auto sm = MountAll(m.mounts, point);
        if (!sm) return Unexpected(std::move(sm).error().Wrap(fmt::format("mount {}", m.destination)));
        bundle.mounts().push_back(std::move(*sm));
        mounts.push_back({m.destination, "bind", point, {"rbind", rw}});
        break;
      }
      case ExecMount::Kind::kBind: {
        struct stat st;
        if (::stat(m.source.c_str(), &st) != 0) {
          return Unexpected(ErrnoError(errno, fmt::format("bind mount source for {}",
                                                          m.destination)));
        }
        mounts.push_back({m.destination, "bind", m.source, {"rbind", rw}});
        break;
      }
      case ExecMount::Kind::kTmpfs: {
        std::vector<std::string> opts = {"nosuid", "nodev", "strictatime", "mode=1777", rw};
        if (m.tmpfs_size_bytes > 0) opts.push_back(fmt::format("size={}", m.tmpfs_size_bytes));
        mounts.push_back({m.destination, "tmpfs", "tmpfs", std::move(opts)});
        break;
      }
      case ExecMount::Kind::kSecret: {
        if (secrets_dir.empty()) {
          // Secrets live in memory only: a private tmpfs inside the bundle.
          secrets_dir = bundle.dir() + "/secrets";
          HOIST_TRY(MakeDir(secrets_dir, 0700));
          size_t total = 0;
          for (const ExecMount& s : req.mounts) {
            if (s.kind == ExecMount::Kind::kSecret) total += s.secret_data.size() + 4096;
          }
          auto sm = MountAll({Mount{"tmpfs", "tmpfs",
                                    {"mode=0700", fmt::format("size={}", total + 65536)}}},
                             secrets_dir);
          if (!sm) return Unexpected(std::move(sm).error().Wrap("mount secrets tmpfs"));
          bundle.mounts().push_back(std::move(*sm));
        }
        std::string path = fmt::format("{}/{}", secrets_dir, i);
        HOIST_TRY(internal::WriteFileWithMode(path, m.secret_data, m.mode & 07777, m.uid, m.gid));
        mounts.push_back({m.destination, "bind", path, {"rbind", "ro", "nosuid", "nodev", "noexec"}});
        break;
      }
    }
  }
  // Parents before children, otherwise in request order.
  std::stable_sort(mounts.begin(), mounts.end(), [](const SpecMount& a, const SpecMount& b) {
    return Depth(a.destination) < Depth(b.destination);
  });
  spec.mounts = std::move(mounts);
  // Mount points the runtime creates in the rootfs are removed again afterwards, except /proc,
  // /dev and /sys: BuildKit keeps those (empty directories) in a step's layer, and so does hoist,
  // so that both give the same layers.
  std::vector<std::string> destinations;
  for (const SpecMount& m : spec.mounts) {
    if (m.destination == "/proc" || m.destination == "/dev" || m.destination == "/sys" ||
        m.destination.starts_with("/dev/") || m.destination.starts_with("/sys/")) {
      continue;
    }
    destinations.push_back(m.destination);
  }
  const std::vector<std::string> stubs = internal::MissingPaths(rootfs, destinations);
  if (!req.rootfs_read_only) internal::MakeKeptMountPoints(rootfs);

  HOIST_ASSIGN_OR_RETURN(std::string config, GenerateSpec(spec));
  HOIST_TRY(internal::WriteFileWithMode(bundle.dir() + "/config.json", config, 0600));

  HOIST_ASSIGN_OR_RETURN(Pipe out, MakePipe());
  HOIST_ASSIGN_OR_RETURN(Pipe err, MakePipe());
  const std::string log_path = bundle.dir() + "/runtime.log";
  // Kept after it exits, so that its cgroup can tell whether the OOM killer struck (Release
  // deletes it).
  const bool keep = options_.memory_limit_bytes > 0 && KeepsContainers(runtime_path_);
  std::vector<std::string> argv = {runtime_path_, "--root", runtime_root_, "--log", log_path,
                                   "--log-format", "json", "run", "--bundle", bundle.dir()};
  if (keep) argv.push_back("--keep");
  argv.push_back(id);
  HOIST_ASSIGN_OR_RETURN(ChildProcess child,
                         internal::Spawn(argv, -1, out.write.get(), err.write.get()));
  out.write.Reset();
  err.write.Reset();
  bool cancelled = false;
  int status = Supervise(child, std::move(out.read), std::move(err.read), req, cancel,
                         runtime_path_, runtime_root_, id, &cancelled);
  internal::RemoveStubs(rootfs, stubs);
  const std::string runtime_errors = RuntimeErrors(log_path);
  const uint64_t oom_kills = keep ? OomKills(runtime_root_ + "/" + id + "/state.json") : 0;
  Status released = bundle.Release();
  if (!released) HOIST_LOG(kWarning, "executor: {}", released.error().message());

  if (cancelled) {
    Error e(Code::kCancelled, "cancelled");
    if (cancel != nullptr) {
      Status c = cancel->Check();
      if (!c) e = c.error();
    }
    return Unexpected(std::move(e).Wrap(fmt::format("process \"{}\"",
                                                    fmt::join(req.process.args, " "))));
  }
  const int code = internal::ExitCodeOf(status);
  if (code != 0 && !runtime_errors.empty()) {
    return MakeError(Code::kUnknown, fmt::format("process \"{}\" could not be started: {}",
                                                 fmt::join(req.process.args, " "),
                                                 runtime_errors));
  }
  std::vector<int> valid = req.valid_exit_codes.empty() ? std::vector<int>{0}
                                                        : req.valid_exit_codes;
  if (std::find(valid.begin(), valid.end(), code) == valid.end()) {
    Error e = ExitCodeError(req.process.args, code);
    if (oom_kills > 0) {
      return MakeError(e.code(),
                       fmt::format("{}: out of memory: the kernel's OOM killer stopped the step at "
                                   "its memory limit of {} (step-limits.memory in the engine's "
                                   "configuration)",
                                   e.message(), FormatLimit(options_.memory_limit_bytes)));
    }
    if (options_.memory_limit_bytes > 0 && !keep && code == 128 + SIGKILL) {
      return MakeError(e.code(),
                       fmt::format("{} (killed: the step may have run out of memory; its limit "
                                   "is {})",
                                   e.message(), FormatLimit(options_.memory_limit_bytes)));
    }
    return Unexpected(std::move(e));
  }
  return ExitStatus{code};
}

Status ProbeRuntime(const std::string& runtime, const std::string& state_dir) {
  RuncExecutorOptions options;
  options.runtime = runtime;
  options.state_dir = state_dir;
  HOIST_ASSIGN_OR_RETURN(auto executor, RuncExecutor::Create(options));
  RunRequest req;
  req.rootfs = {Mount{"bind", "/", {"bind", "ro"}}};
  req.rootfs_read_only = true;
  req.process.args = {"/bin/true"};
  req.network = NetworkMode::kNone;
  std::string err_text;
  req.stderr_sink = [&](std::string_view chunk) { err_text.append(chunk); };
  auto r = executor->Run(req, nullptr);
  if (!r) {
    Error e = std::move(r).error();
    // The runtime's own words, when they went to stderr rather than its log.
    while (!err_text.empty() && (err_text.back() == '\n' || err_text.back() == ' ')) {
      err_text.pop_back();
    }
    if (!err_text.empty() && e.message().find(err_text) == std::string::npos) {
      e = Error(e.code(), fmt::format("{}: {}", e.message(), err_text));
    }
    return Unexpected(std::move(e).Wrap(fmt::format("runtime {} probe", runtime)));
  }
  return OkStatus();
}

namespace {

// What a probe's outcome depends on: this boot (kernel, cgroup setup) and the runtime binary.
std::string ProbeIdentity(const std::string& runtime_path) {
  const std::string boot_id = BootId();
  struct stat st;
  if (boot_id.empty() || ::stat(runtime_path.c_str(), &st) != 0) return "";
  return fmt::format("{} {} {} {} {}.{}", boot_id, runtime_path, st.st_ino, st.st_size,
                     st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

// A probe's outcome as recorded (the format is documented on DefaultRuntime).
struct ProbeRecord {
  bool passed = false;
  std::string error;
};

// The record at `path` for the runtime at `runtime_path`, if it still holds.
std::optional<ProbeRecord> ReadProbeRecord(const std::string& path,
                                           const std::string& runtime_path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("format", "") != "hoist.runtime-probe" ||
      j.value("version", 0) != 2 || j.value("runtime", "") != runtime_path) {
    return std::nullopt;
  }
  const std::string identity = ProbeIdentity(runtime_path);
  if (identity.empty() || j.value("identity", "") != identity) return std::nullopt;
  return ProbeRecord{.passed = j.value("passed", false), .error = j.value("error", "")};
}

// Writes the record ReadProbeRecord reads, creating `dir` if need be.
Status WriteProbeRecord(const std::string& dir, const std::string& path,
                        const std::string& runtime_path, const ProbeRecord& r) {
  HOIST_TRY(PosixFileSystem()->MakeDirs(dir, 0700));
  nlohmann::json j = {{"format", "hoist.runtime-probe"},
                      {"version", 2},
                      {"runtime", runtime_path},
                      {"identity", ProbeIdentity(runtime_path)},
                      {"passed", r.passed}};
  if (!r.passed) j["error"] = r.error;
  return WriteFileAtomic(PosixFileSystem(), path, j.dump() + "\n", 0600);
}

}  // namespace

std::vector<std::string> RuntimePreference(bool memory_limit) {
  if (memory_limit) return {"runc", "crun"};
  return {"crun", "runc"};
}

Result<std::string> DefaultRuntime(const std::string& state_dir, const std::string& host_dir,
                                   const std::vector<std::string>& order) {
  std::vector<std::string> failures;
  for (const std::string& name : order) {
    auto path = FindRuntime(name);
    if (!path) {
      failures.push_back(path.error().message());
      continue;
    }
    const std::string base = path->substr(path->rfind('/') + 1);
    const std::string file = fmt::format("probe-{}.json", base);
    const std::string record = state_dir + "/" + file;
    const std::string host_record = host_dir.empty() ? "" : host_dir + "/runtime-" + file;
    std::optional<ProbeRecord> known = ReadProbeRecord(record, *path);
    if (!known && !host_record.empty()) {
      known = ReadProbeRecord(host_record, *path);
      if (known) {
        // The root keeps its own copy of what this boot's host record says.
        if (auto w = WriteProbeRecord(state_dir, record, *path, *known); !w) {
          HOIST_LOG(kWarning, "remember the runtime probe: {}", w.error().message());
        }
      }
    }
    if (!known) {
      Status s = ProbeRuntime(*path, fmt::format("{}/probe-{}", state_dir, base));
      known = ProbeRecord{.passed = static_cast<bool>(s), .error = s ? "" : s.error().message()};
      if (auto w = WriteProbeRecord(state_dir, record, *path, *known); !w) {
        HOIST_LOG(kWarning, "remember the runtime probe: {}", w.error().message());
      }
      if (!host_record.empty()) {
        if (auto w = WriteProbeRecord(host_dir, host_record, *path, *known); !w) {
          HOIST_LOG(kDebug, "remember the runtime probe for this boot: {}", w.error().message());
        }
      }
    }
    if (known->passed) return *path;
    failures.push_back(known->error);
  }
  return MakeError(Code::kFailedPrecondition,
                   fmt::format("no working OCI runtime: {}", fmt::join(failures, "; ")));
}

}  // namespace hoist::executor
