#include "solver/ops/worker.h"

#include <fcntl.h>
#include <sys/file.h>

#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "base/hash.h"
#include "base/file_system.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "base/unique_fd.h"
#include "session/session.h"
#include "solver/ops/internal/tree_util.h"
#include "solver/ops/internal/ops.h"

namespace hoist::solver::ops {

namespace internal {

std::string NewSnapshotKey(std::string_view prefix) {
  return fmt::format("{}-{}", prefix, session::NewRandomId());
}

Result<std::string> CommitLayerImage(snapshot::Snapshotter& snapshots, const std::string& parent,
                                     std::string_view prefix,
                                     const std::function<Status(int image_fd)>& write) {
  const std::string key = NewSnapshotKey("active");
  HOIST_TRY(snapshots.Prepare(key, parent).map([](auto&&) {}));
  Status written = [&]() -> Status {
    HOIST_ASSIGN_OR_RETURN(snapshot::WritableDir dir, snapshots.Writable(key));
    if (dir.layer_image.empty()) {
      return MakeError(Code::kInternal, "the snapshotter offers no layer image");
    }
    UniqueFd image(::open(dir.layer_image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!image) return Unexpected(ErrnoError(errno, "create the layer's image"));
    Status st = write(image.get());
    if (st && ::fsync(image.get()) != 0) st = Unexpected(ErrnoError(errno, "sync the layer's image"));
    if (!st) (void)::ftruncate(image.get(), 0);
    return st;
  }();
  const std::string name = NewSnapshotKey(prefix);
  if (written) written = snapshots.Commit(name, key);
  if (!written) {
    (void)snapshots.Remove(key);
    return Unexpected(std::move(written).error());
  }
  return name;
}

oci::Digest DigestOf(std::string_view s) { return oci::Digest::Sha256Of(s); }

Status CheckClientSSH(Worker& worker, const std::string& id, CancelContext* cancel) {
  return worker.options().sessions->Any(
      worker.options().session_ids, [&](session::Session& s) { return s.CheckSSH(id); },
      session::kDefaultSessionTimeout, cancel);
}

Result<UniqueFd> ForwardClientSSH(Worker& worker, const std::string& id, CancelContext* cancel) {
  UniqueFd fd;
  HOIST_TRY(worker.options().sessions->Any(
      worker.options().session_ids,
      [&](session::Session& s) -> Status {
        HOIST_ASSIGN_OR_RETURN(fd, s.ForwardSSH(id));
        return OkStatus();
      },
      session::kDefaultSessionTimeout, cancel));
  return fd;
}

bool IsMirrorId(std::string_view id) { return id.starts_with(kMirrorPrefix); }

std::string MirrorPath(const std::string& state_dir, std::string_view id) {
  return state_dir + "/local/" + std::string(id.substr(kMirrorPrefix.size()));
}

namespace {

// In-place contexts adopted by live Workers, by result ID.
std::mutex g_in_place_mu;
std::map<std::string, std::shared_ptr<source::InPlaceContext>, std::less<>> g_in_place;

}  // namespace

bool IsInPlaceId(std::string_view id) { return id.starts_with(kInPlaceIdPrefix); }

std::shared_ptr<source::InPlaceContext> FindInPlace(std::string_view id) {
  std::lock_guard lock(g_in_place_mu);
  auto it = g_in_place.find(id);
  return it == g_in_place.end() ? nullptr : it->second;
}

oci::Platform OpPlatform(const Worker& worker, const pb::Op& op) {
  if (!op.has_platform()) return worker.options().default_platform;
  oci::Platform p;
  p.os = op.platform().os();
  p.architecture = op.platform().architecture();
  p.variant = op.platform().variant();
  p.os_version = op.platform().osversion();
  for (const auto& f : op.platform().osfeatures()) p.os_features.push_back(f);
  return p;
}

Result<std::unique_ptr<MountedSnapshot>> MountedSnapshot::Create(
    snapshot::Snapshotter& snapshotter, const std::string& parent, bool writable,
    const std::string& state_dir, bool layer) {
  std::unique_ptr<MountedSnapshot> m(new MountedSnapshot(snapshotter));
  if (IsMirrorId(parent) || IsInPlaceId(parent)) {
    // A local context mirror or in-place view: bound read-only as it is, or copied into a
    // fresh snapshot.
    std::string mirror;
    std::shared_ptr<source::InPlaceContext> in_place;
    if (IsMirrorId(parent)) {
      mirror = MirrorPath(state_dir, parent);
    } else if ((in_place = FindInPlace(parent))) {
      mirror = in_place->path();
    } else {
      return MakeError(Code::kNotFound, "local context " + parent + " is no longer available");
    }
    auto dir = TempDir::Create("mnt-", state_dir);
    if (!dir) return Unexpected(std::move(dir).error());
    m->dir_ = std::move(*dir);
    if (!writable) {
      m->done_ = true;
      HOIST_ASSIGN_OR_RETURN(m->mount_, MountAll({Mount{.type = "bind",
                                                       .source = mirror,
                                                       .options = {"rbind", "ro"}}},
                                                 m->dir_.path()));
      return m;
    }
    m->key_ = NewSnapshotKey("active");
    HOIST_ASSIGN_OR_RETURN(m->mounts_, snapshotter.Prepare(m->key_, ""));
    auto mounted = MountAll(m->mounts_, m->dir_.path());
    if (!mounted) {
      (void)snapshotter.Remove(m->key_);
      return Unexpected(std::move(mounted).error());
    }
    m->mount_ = std::move(*mounted);
    HOIST_TRY(CopyTree(mirror, m->dir_.path(), nullptr, in_place.get()));
    return m;
  }
  m->key_ = NewSnapshotKey(writable ? "active" : "view");
  HOIST_ASSIGN_OR_RETURN(m->mounts_, !writable ? snapshotter.View(m->key_, parent)
                                     : layer   ? snapshotter.PrepareLayer(m->key_, parent)
                                               : snapshotter.Prepare(m->key_, parent));
  auto dir = TempDir::Create("mnt-", state_dir);
  if (!dir) {
    (void)snapshotter.Remove(m->key_);
    return Unexpected(std::move(dir).error());
  }
  m->dir_ = std::move(*dir);
  auto mounted = MountAll(m->mounts_, m->dir_.path());
  if (!mounted) {
    (void)snapshotter.Remove(m->key_);
    return Unexpected(std::move(mounted).error());
  }
  m->mount_ = std::move(*mounted);
  return m;
}

MountedSnapshot::~MountedSnapshot() {
  (void)mount_.Unmount();
  if (!done_) (void)snapshotter_.Remove(key_);
}

Status MountedSnapshot::Commit(const std::string& name) {
  HOIST_TRY(mount_.Unmount());
  HOIST_TRY(snapshotter_.Commit(name, key_));
  done_ = true;
  return OkStatus();
}

}  // namespace internal

namespace {

// Mirrors leased by live builds, by name.
std::mutex g_mirror_leases_mu;
std::set<std::string> g_mirror_leases;

}  // namespace

Worker::Worker(WorkerOptions options) : options_(std::move(options)) {}

Worker::~Worker() {
  {
    std::lock_guard lock(g_mirror_leases_mu);
    for (const std::string& m : mirrors_) g_mirror_leases.erase(m);
  }
  std::lock_guard lock(internal::g_in_place_mu);
  for (const std::string& id : in_place_) internal::g_in_place.erase(id);
}

void Worker::AdoptInPlace(const std::string& id, std::shared_ptr<source::InPlaceContext> context) {
  std::lock_guard mine(mirrors_mu_);
  std::lock_guard lock(internal::g_in_place_mu);
  internal::g_in_place[id] = std::move(context);
  in_place_.insert(id);
}

Result<std::string> Worker::LeaseMirror(const std::string& preferred,
                                        const std::string& alternate) {
  std::lock_guard mine(mirrors_mu_);
  for (const std::string* m : {&preferred, &alternate}) {
    if (mirrors_.contains(*m)) return *m;
  }
  std::lock_guard lock(g_mirror_leases_mu);
  for (const std::string* m : {&preferred, &alternate}) {
    if (!g_mirror_leases.insert(*m).second) continue;
    // Another process's build may hold it too: a lease file beside the mirror, locked while
    // the lease lasts (the kernel releases it with a killed process).
    HOIST_TRY(PosixFileSystem()->MakeDirs(options_.state_dir + "/local", 0700));
    const std::string lease = internal::MirrorPath(options_.state_dir, *m) + ".lease";
    UniqueFd fd(::open(lease.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      g_mirror_leases.erase(*m);
      continue;
    }
    mirror_leases_.push_back(std::move(fd));
    mirrors_.insert(*m);
    return *m;
  }
  return MakeError(Code::kUnavailable,
                   "the context mirror is in use by another build of this session");
}

Result<std::unique_ptr<Op>> Worker::Resolve(const oci::Digest& digest, std::string_view op_bytes,
                                            const llb::OpMetadata& metadata) {
  pb::Op op;
  if (!op.ParseFromArray(op_bytes.data(), static_cast<int>(op_bytes.size()))) {
    return MakeError(Code::kInvalidArgument, fmt::format("op {}: not a pb.Op", digest.str()));
  }
  // An op's cache digest leaves out its inputs: the solver combines it with the inputs' own
  // cache keys, which are content-based where the op allows (as BuildKit's CacheMap does).
  pb::Op body = op;
  body.clear_inputs();
  std::string body_bytes;
  {
    google::protobuf::io::StringOutputStream raw(&body_bytes);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    body.SerializeToCodedStream(&coded);
  }
  const oci::Digest cache_digest = oci::Digest::Sha256Of(body_bytes);
  (void)digest;
  switch (op.op_case()) {
    case pb::Op::kSource:
      return internal::MakeSourceOp(*this, digest, op, metadata);
    case pb::Op::kExec:
      return internal::MakeExecOp(*this, cache_digest, op, metadata);
    case pb::Op::kFile:
      return internal::MakeFileOp(*this, cache_digest, op, metadata);
    case pb::Op::kMerge:
      return internal::MakeMergeOp(*this, cache_digest, op, metadata);
    case pb::Op::kDiff:
      return MakeError(Code::kUnimplemented, "diff ops are not supported yet");
    case pb::Op::kBuild:
      return MakeError(Code::kUnimplemented, "build ops are not supported");
    default:
      return MakeError(Code::kInvalidArgument,
                       fmt::format("op {}: no operation in it", digest.str()));
  }
}

Result<std::optional<ResultRef>> Worker::Load(const std::string& id) {
  if (internal::IsInPlaceId(id)) {
    if (!internal::FindInPlace(id)) return std::nullopt;
    return Ref(id);
  }
  if (internal::IsMirrorId(id)) {
    auto st = PosixFileSystem()->Stat(internal::MirrorPath(options_.state_dir, id));
    if (!st || !*st) return std::nullopt;
    return Ref(id);
  }
  auto info = options_.snapshotter->Stat(id);
  if (!info) {
    if (info.error().code() == Code::kNotFound) return std::nullopt;
    return Unexpected(std::move(info).error());
  }
  if (info->kind != snapshot::Kind::kCommitted) return std::nullopt;
  return Ref(id);
}

int64_t Worker::Size(const std::string& id) {
  if (internal::IsMirrorId(id) || internal::IsInPlaceId(id)) return 0;
  auto usage = options_.snapshotter->GetUsage(id);
  return usage ? usage->size : 0;
}

ResultRef Worker::Ref(const std::string& name) const { return ResultRef::Adopt(name, {}); }

Result<ResultRef> Worker::EmptyRef() {
  std::lock_guard lock(empty_mu_);
  const std::string name(kEmptySnapshot);
  auto info = options_.snapshotter->Stat(name);
  if (info) return Ref(name);
  if (info.error().code() != Code::kNotFound) return Unexpected(std::move(info).error());
  const std::string key = internal::NewSnapshotKey("empty");
  HOIST_TRY(options_.snapshotter->Prepare(key, "").map([](auto&&) {}));
  if (auto st = options_.snapshotter->Commit(name, key); !st) {
    (void)options_.snapshotter->Remove(key);
    return Unexpected(std::move(st).error());
  }
  return Ref(name);
}

Result<int> RemoveStaleMountPoints(const std::string& state_dir) {
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(bool exists, fs->Exists(state_dir));
  if (!exists) return 0;
  HOIST_ASSIGN_OR_RETURN(auto names, fs->ListDir(state_dir));
  int removed = 0;
  for (const std::string& name : names) {
    if (!name.starts_with("mnt-")) continue;
    const std::string path = state_dir + "/" + name;
    HOIST_TRY(UnmountAllUnder(path));
    HOIST_TRY(RemoveAll(path));
    ++removed;
  }
  return removed;
}

}  // namespace hoist::solver::ops
