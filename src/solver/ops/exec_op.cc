// Exec ops: a process in the OCI runtime on snapshots of its inputs.
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "archive/confined_root.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "oci/platform.h"
#include "session/session.h"
#include "session/ssh_forward.h"
#include "solver/ops/internal/tree_util.h"
#include "solver/ops/internal/ops.h"

namespace hoist::solver::ops::internal {
namespace {

// The real path of `selector` inside the tree at `root` (a mounted snapshot), every symlink on the
// way resolved as if `root` were `/` (BuildKit's fs.RootPath): a mount source taken from a
// snapshot never leads out of it, whatever links its files hold. The path need not exist.
Result<std::string> PathInSnapshot(const std::string& root, std::string_view selector) {
  HOIST_ASSIGN_OR_RETURN(archive::ConfinedRoot confined, archive::ConfinedRoot::Open(root));
  std::string followed;
  if (int err = confined.FollowPath(archive::CleanInRoot(selector), &followed); err != 0) {
    return Unexpected(ErrnoError(err, fmt::format("mount source {}", selector)));
  }
  if (followed.empty()) return root;
  UniqueFd dir;
  std::string base;
  if (int err = confined.OpenParent(followed, &dir, &base); err != 0) {
    return Unexpected(ErrnoError(err, fmt::format("mount source {}", selector)));
  }
  auto real = [](int fd) -> Result<std::string> {
    std::string buf(PATH_MAX, '\0');
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
    if (n < 0) return Unexpected(ErrnoError(errno, "readlink " + link));
    buf.resize(static_cast<size_t>(n));
    return buf;
  };
  HOIST_ASSIGN_OR_RETURN(std::string top, real(confined.fd()));
  HOIST_ASSIGN_OR_RETURN(std::string parent, real(dir.get()));
  if (parent != top && !parent.starts_with(top + "/")) {
    return MakeError(Code::kPermissionDenied, fmt::format("mount source {}: leads out of its input", selector));
  }
  return base.empty() ? parent : parent + "/" + base;
}

// The last lines a process printed, for the error when it fails.
class OutputTail {
 public:
  void Add(std::string_view chunk) {
    std::lock_guard lock(mu_);
    for (char c : chunk) {
      if (c == '\n') {
        lines_.push_back(std::move(current_));
        current_.clear();
        if (lines_.size() > kLines) lines_.pop_front();
      } else if (current_.size() < 512) {
        current_ += c;
      }
    }
  }
  std::string Text() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const std::string& l : lines_) out += l + "\n";
    if (!current_.empty()) out += current_ + "\n";
    return out;
  }

 private:
  static constexpr size_t kLines = 10;
  std::mutex mu_;
  std::deque<std::string> lines_;
  std::string current_;
};

// The binfmt_misc handler name qemu-user-static registers for an architecture.
std::string QemuName(const std::string& arch) {
  if (arch == "arm64") return "aarch64";
  if (arch == "amd64") return "x86_64";
  if (arch == "386") return "i386";
  if (arch == "ppc64le") return "ppc64le";
  return arch;  // arm, riscv64, s390x, mips64le...
}

// A RUN for another architecture needs an emulator registered with the kernel.
Status CheckRunnable(const oci::Platform& want) {
  const oci::Platform host = oci::HostPlatform();
  if (want.os == host.os && want.architecture == host.architecture) return OkStatus();
  if (want.os != "linux") {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("RUN for {} cannot run on this {} host", oci::FormatPlatform(want),
                                 oci::FormatPlatform(host)));
  }
  struct stat st;
  const std::string handler = "/proc/sys/fs/binfmt_misc/qemu-" + QemuName(want.architecture);
  if (::stat(handler.c_str(), &st) == 0) return OkStatus();
  return MakeError(Code::kFailedPrecondition,
                   fmt::format("RUN for {} needs an emulator on this {} host, and none is "
                               "registered ({} is missing): install qemu-user-static, or build "
                               "only COPY/FROM steps for that platform",
                               oci::FormatPlatform(want), oci::FormatPlatform(host), handler));
}

std::string SecretNotFound(std::string_view id) { return fmt::format("secret {} not found", id); }

// A persistent cache mount directory and the lock its sharing mode asks for.
class CacheMountDir {
 public:
  static Result<CacheMountDir> Open(const std::string& state_dir, const pb::Mount& m,
                                    Worker& worker, const std::vector<ResultRef>& inputs,
                                    CancelContext* cancel) {
    CacheMountDir d;
    const std::string id = m.cacheopt().id().empty() ? m.dest() : m.cacheopt().id();
    const std::string base =
        state_dir + "/cache-mounts/" + std::string(DigestOf(id).encoded().substr(0, 32));
    HOIST_TRY(PosixFileSystem()->MakeDirs(state_dir + "/cache-mounts", 0700));
    d.path_ = base;
    const auto sharing = m.cacheopt().sharing();
    if (sharing != pb::SHARED) {
      d.lock_ = UniqueFd(::open((base + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
      if (!d.lock_) return Unexpected(ErrnoError(errno, "cache mount lock " + id));
      if (sharing == pb::LOCKED) {
        if (::flock(d.lock_.get(), LOCK_EX) != 0) {
          return Unexpected(ErrnoError(errno, "cache mount lock " + id));
        }
      } else if (::flock(d.lock_.get(), LOCK_EX | LOCK_NB) != 0) {
        // private: a concurrent user gets a fresh directory of its own.
        d.lock_.Reset();
        HOIST_ASSIGN_OR_RETURN(TempDir tmp, TempDir::Create("cache-private-", state_dir + "/cache-mounts"));
        d.private_ = std::move(tmp);
        d.path_ = d.private_.path();
        return d;
      }
    }
    struct stat st;
    if (::stat(base.c_str(), &st) != 0) {
      // First use: seeded from the mount's input (the frontend puts the uid/gid/mode there).
      // A build of another process may be seeding it too: each seeds its own, the first
      // rename wins and the others drop theirs.
      const std::string tmp = base + ".new-" + session::NewRandomId().substr(0, 12);
      HOIST_TRY(PosixFileSystem()->MakeDirs(tmp, 0755));
      struct Drop {
        const std::string& dir;
        bool keep = false;
        ~Drop() {
          if (!keep) (void)RemoveAll(dir);
        }
      } drop{tmp};
      if (m.input() >= 0 && static_cast<size_t>(m.input()) < inputs.size()) {
        HOIST_ASSIGN_OR_RETURN(auto view, MountedSnapshot::Create(*worker.options().snapshotter,
                                                                  inputs[m.input()].id(), false,
                                                                  state_dir));
        std::string from = view->path();
        if (!m.selector().empty()) {
          HOIST_ASSIGN_OR_RETURN(from, PathInSnapshot(view->path(), m.selector()));
        }
        HOIST_TRY(CopyTree(from, tmp, cancel, FindInPlace(inputs[m.input()].id()).get()));
      }
      if (::rename(tmp.c_str(), base.c_str()) == 0) {
        drop.keep = true;
      } else if (errno != ENOTEMPTY && errno != EEXIST) {
        return Unexpected(ErrnoError(errno, "cache mount " + id));
      }
    }
    return d;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd lock_;
  TempDir private_;
};

class ExecOp final : public Op {
 public:
  ExecOp(Worker& worker, oci::Digest digest, pb::Op op)
      : worker_(worker), digest_(std::move(digest)), op_(std::move(op)) {}

  Result<CacheMap> GetCacheMap(const OpContext&) override {
    CacheMap cm{.digest = digest_};
    cm.deps.resize(op_.inputs_size());
    for (const pb::Mount& m : op_.exec().mounts()) {
      if (m.input() < 0 || m.input() >= op_.inputs_size()) continue;
      if (m.mounttype() != pb::BIND || m.dest() == "/" || !m.readonly() || m.selector().empty()) {
        continue;
      }
      // A read-only mount of part of an input depends on that part's content only.
      CacheMap::Dep& dep = cm.deps[m.input()];
      if (dep.compute_digest) continue;
      const std::string selector = m.selector();
      dep.selector = DigestOf(selector);
      dep.compute_digest = [this, selector](const OpContext&, const ResultRef& input) {
        return ChecksumPaths(worker_, input, {selector}, true, false);
      };
    }
    return cm;
  }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>& inputs) override {
    if (worker_.options().executor == nullptr) {
      return MakeError(Code::kFailedPrecondition,
                       fmt::format("cannot run {}: {}", Describe(),
                                   worker_.options().executor_error.empty()
                                       ? "no OCI runtime"
                                       : worker_.options().executor_error));
    }
    HOIST_TRY(CheckRunnable(OpPlatform(worker_, op_)));
    const pb::ExecOp& exec = op_.exec();
    const std::string& state = worker_.options().state_dir;
    snapshot::Snapshotter& snapshots = *worker_.options().snapshotter;
    executor::RunRequest req;
    req.process.args.assign(exec.meta().args().begin(), exec.meta().args().end());
    req.process.env.assign(exec.meta().env().begin(), exec.meta().env().end());
    req.process.cwd = exec.meta().cwd().empty() ? "/" : exec.meta().cwd();
    req.process.user = exec.meta().user();
    if (!exec.meta().hostname().empty()) req.hostname = exec.meta().hostname();
    for (const auto& h : exec.meta().extrahosts()) req.extra_hosts.push_back({h.host(), h.ip()});
    for (const auto& u : exec.meta().ulimit()) {
      req.ulimits.push_back({.name = u.name(), .soft = u.soft(), .hard = u.hard()});
    }
    req.valid_exit_codes.assign(exec.meta().validexitcodes().begin(),
                                exec.meta().validexitcodes().end());
    req.network = exec.network() == pb::HOST   ? executor::NetworkMode::kHost
                  : exec.network() == pb::NONE ? executor::NetworkMode::kNone
                                               : executor::NetworkMode::kDefault;
    req.security = exec.security() == pb::INSECURE ? executor::SecurityMode::kInsecure
                                                   : executor::SecurityMode::kSandbox;

    int outputs = 0;
    for (const pb::Mount& m : exec.mounts()) outputs = std::max<int>(outputs, m.output() + 1);
    std::vector<std::pair<int, std::unique_ptr<MountedSnapshot>>> writable;  // output → snapshot
    std::vector<std::unique_ptr<MountedSnapshot>> held;                     // views
    std::vector<CacheMountDir> caches;
    // Sockets of forwarded SSH agents, served until the step ends.
    std::vector<std::unique_ptr<session::AgentSocket>> agents;
    bool have_root = false;
    for (const pb::Mount& m : exec.mounts()) {
      const std::string parent = (m.input() >= 0 && static_cast<size_t>(m.input()) < inputs.size())
                                     ? inputs[m.input()].id()
                                     : "";
      switch (m.mounttype()) {
        case pb::BIND: {
          if (m.dest() == "/") {
            HOIST_ASSIGN_OR_RETURN(root_, MountedSnapshot::Create(snapshots, parent, true, state));
            req.rootfs = {Mount{.type = "bind", .source = root_->path(), .options = {"rbind"}}};
            req.rootfs_read_only = m.readonly();
            have_root = true;
            continue;
          }
          const bool rw = !m.readonly();
          HOIST_ASSIGN_OR_RETURN(auto snap, MountedSnapshot::Create(snapshots, parent, rw, state));
          executor::ExecMount em{.kind = executor::ExecMount::Kind::kBind,
                                 .destination = m.dest(),
                                 .read_only = m.readonly()};
          em.source = snap->path();
          if (!m.selector().empty()) {
            HOIST_ASSIGN_OR_RETURN(em.source, PathInSnapshot(snap->path(), m.selector()));
          }
          req.mounts.push_back(std::move(em));
          if (rw && m.output() >= 0) {
            writable.emplace_back(m.output(), std::move(snap));
          } else {
            held.push_back(std::move(snap));
          }
          break;
        }
        case pb::CACHE: {
          HOIST_ASSIGN_OR_RETURN(CacheMountDir dir,
                                 CacheMountDir::Open(state, m, worker_, inputs, ctx.cancel.get()));
          executor::ExecMount em{.kind = executor::ExecMount::Kind::kBind, .destination = m.dest()};
          em.source = dir.path();
          req.mounts.push_back(std::move(em));
          caches.push_back(std::move(dir));
          break;
        }
        case pb::TMPFS: {
          executor::ExecMount em{.kind = executor::ExecMount::Kind::kTmpfs, .destination = m.dest()};
          em.tmpfs_size_bytes = static_cast<uint64_t>(std::max<int64_t>(0, m.tmpfsopt().size()));
          req.mounts.push_back(std::move(em));
          break;
        }
        case pb::SECRET: {
          auto data = ReadSecret(m.secretopt().id(), ctx);
          if (!data) {
            if (data.error().code() == Code::kNotFound && m.secretopt().optional()) break;
            return Unexpected(std::move(data).error());
          }
          executor::ExecMount em{.kind = executor::ExecMount::Kind::kSecret,
                                 .destination = m.dest(),
                                 .read_only = true};
          em.secret_data = std::move(*data);
          em.uid = m.secretopt().uid();
          em.gid = m.secretopt().gid();
          em.mode = m.secretopt().mode();
          req.mounts.push_back(std::move(em));
          break;
        }
        case pb::SSH: {
          // The client's agent, reached through the session by a socket of this step's.
          const pb::SSHOpt& so = m.sshopt();
          const std::string id =
              so.id().empty() ? std::string(session::kDefaultSSHID) : so.id();
          if (Status st = CheckClientSSH(worker_, id, ctx.cancel.get()); !st) {
            if (st.error().code() == Code::kNotFound && so.optional()) break;
            return Unexpected(std::move(st).error());
          }
          HOIST_ASSIGN_OR_RETURN(
              auto agent,
              session::AgentSocket::Listen(worker_.options().state_dir, so.uid(), so.gid(),
                                           so.mode() != 0 ? so.mode() : 0600,
                                           [this, id, &ctx] {
                                             return ForwardClientSSH(worker_, id,
                                                                     ctx.cancel.get());
                                           }));
          executor::ExecMount em{.kind = executor::ExecMount::Kind::kBind,
                                 .destination = m.dest()};
          em.source = agent->path();
          req.mounts.push_back(std::move(em));
          agents.push_back(std::move(agent));
          break;
        }
        default:
          return MakeError(Code::kInvalidArgument,
                           fmt::format("{}: unknown mount type {}", Describe(),
                                       static_cast<int>(m.mounttype())));
      }
    }
    if (!have_root) {
      return MakeError(Code::kInvalidArgument, fmt::format("{}: no root mount", Describe()));
    }
    for (const pb::SecretEnv& se : exec.secretenv()) {
      auto data = ReadSecret(se.id(), ctx);
      if (!data) {
        if (data.error().code() == Code::kNotFound && se.optional()) continue;
        return Unexpected(std::move(data).error());
      }
      req.secret_env.push_back(se.name() + "=" + *data);
    }

    OutputTail tail;
    req.stdout_sink = [&](std::string_view chunk) {
      tail.Add(chunk);
      ctx.progress.Log(1, std::string(chunk));
    };
    req.stderr_sink = [&](std::string_view chunk) {
      tail.Add(chunk);
      ctx.progress.Log(2, std::string(chunk));
    };
    auto run = worker_.options().executor->Run(req, ctx.cancel.get());
    if (!run) {
      Error e = std::move(run).error();
      if (e.code() == Code::kCancelled) return Unexpected(std::move(e));
      const std::string last = tail.Text();
      if (!last.empty()) {
        return MakeError(e.code(), fmt::format("{}\n--- last output ---\n{}", e.message(), last));
      }
      return Unexpected(std::move(e));
    }

    std::vector<ResultRef> results(outputs);
    for (const pb::Mount& m : exec.mounts()) {
      if (m.mounttype() == pb::BIND && m.dest() == "/" ) {
        const std::string name = NewSnapshotKey("run");
        if (m.output() >= 0) {
          HOIST_TRY(root_->Commit(name));
          results[m.output()] = worker_.Ref(name);
        }
      }
    }
    for (auto& [output, snap] : writable) {
      const std::string name = NewSnapshotKey("run");
      HOIST_TRY(snap->Commit(name));
      results[output] = worker_.Ref(name);
    }
    for (ResultRef& r : results) {
      if (r.empty()) {
        HOIST_ASSIGN_OR_RETURN(r, worker_.EmptyRef());
      }
    }
    return results;
  }

 private:
  std::string Describe() const {
    std::string args;
    for (const auto& a : op_.exec().meta().args()) args += (args.empty() ? "" : " ") + a;
    return fmt::format("process \"{}\"", args);
  }

  Result<std::string> ReadSecret(const std::string& id, const OpContext& ctx) {
    std::string data;
    Status st = worker_.options().sessions->Any(
        worker_.options().session_ids,
        [&](session::Session& s) -> Status {
          HOIST_ASSIGN_OR_RETURN(data, s.Secret(id));
          return OkStatus();
        },
        session::kDefaultSessionTimeout, ctx.cancel.get());
    if (!st) {
      if (st.error().code() == Code::kNotFound) {
        return MakeError(Code::kNotFound, SecretNotFound(id));
      }
      return Unexpected(std::move(st).error());
    }
    return data;
  }

  Worker& worker_;
  oci::Digest digest_;
  pb::Op op_;
  std::unique_ptr<MountedSnapshot> root_;
};

}  // namespace

Result<std::unique_ptr<Op>> MakeExecOp(Worker& worker, const oci::Digest& digest,
                                       const pb::Op& op, const llb::OpMetadata&) {
  if (op.exec().meta().args_size() == 0) {
    return MakeError(Code::kInvalidArgument, fmt::format("exec op {}: no args", digest.str()));
  }
  return std::make_unique<ExecOp>(worker, digest, op);
}

}  // namespace hoist::solver::ops::internal
