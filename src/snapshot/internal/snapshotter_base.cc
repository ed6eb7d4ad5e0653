#include "snapshot/internal/snapshotter_base.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <set>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/mount.h"
#include "snapshot/internal/tree_copy.h"

namespace hoist::snapshot::internal {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Quote(const std::string& key) { return "\"" + key + "\""; }

}  // namespace

Error SnapshotError(Code code, const std::string& key, const std::string& problem) {
  return Error(code, "snapshot " + Quote(key) + ": " + problem);
}

std::string SnapshotterBase::SnapshotDir(uint64_t id) const {
  return root_ + "/snapshots/" + std::to_string(id);
}
std::string SnapshotterBase::FsDir(uint64_t id) const { return SnapshotDir(id) + "/fs"; }

Status SnapshotterBase::Open() {
  FileSystem* fs = PosixFileSystem();
  HOIST_TRY(fs->MakeDirs(root_ + "/snapshots", 0700));
  std::string lock_path = root_ + "/lock";
  lock_fd_ = UniqueFd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock_fd_) return Unexpected(ErrnoError(errno, "open " + lock_path));
  const std::string meta_lock = root_ + "/metadata.lock";
  meta_lock_fd_ = UniqueFd(::open(meta_lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!meta_lock_fd_) return Unexpected(ErrnoError(errno, "open " + meta_lock));
  // Alone: repair what a killed process left, then share. Else another process is using the
  // root (or repairing it: wait for that).
  const bool alone = ::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) == 0;
  if (!alone && ::flock(lock_fd_.get(), LOCK_SH) != 0) {
    return Unexpected(ErrnoError(errno, "lock " + lock_path));
  }
  {
    HOIST_ASSIGN_OR_RETURN(Locked locked, Lock());
    if (alone) HOIST_TRY(Repair());
  }
  if (alone && ::flock(lock_fd_.get(), LOCK_SH) != 0) {
    return Unexpected(ErrnoError(errno, "lock " + lock_path));
  }
  return OkStatus();
}

SnapshotterBase::Locked::~Locked() {
  if (fd_ >= 0) (void)::flock(fd_, LOCK_UN);
}

Result<SnapshotterBase::Locked> SnapshotterBase::Lock() {
  std::unique_lock<std::mutex> mu(mu_);
  const int fd = meta_lock_fd_.get();
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) return Unexpected(ErrnoError(errno, "lock " + root_ + "/metadata.lock"));
  }
  Locked locked(std::move(mu), fd);
  uint64_t generation = 0;
  const ssize_t n = ::pread(fd, &generation, sizeof(generation), 0);
  if (n < 0) return Unexpected(ErrnoError(errno, "read " + root_ + "/metadata.lock"));
  if (n != sizeof(generation)) generation = 0;
  if (generation != generation_ || metadata_.driver.empty()) {
    HOIST_ASSIGN_OR_RETURN(metadata_, LoadMetadata(root_ + "/metadata.json", driver_));
    generation_ = generation;
  }
  return locked;
}

Status SnapshotterBase::Repair() {
  FileSystem* fs = PosixFileSystem();
  std::set<std::string> known;
  for (const auto& [key, r] : metadata_.snapshots) {
    known.insert(std::to_string(r.id));
    HOIST_ASSIGN_OR_RETURN(auto st, fs->Stat(FsDir(r.id)));
    if (!st || st->type != FileInfo::Type::kDirectory) {
      return Unexpected(SnapshotError(Code::kDataLoss, key, "directory " + FsDir(r.id) +
                                                                " is missing"));
    }
  }
  // Directories of a Prepare or View that crashed before the metadata named them, or of a
  // Remove that crashed after it stopped naming them.
  // EROFS images and in-memory layers a crashed process left mounted: detached (the root lock
  // means nothing of ours is mounted yet), so that they can be removed or mounted afresh.
  HOIST_TRY(UnmountAllUnder(root_ + "/snapshots"));
  HOIST_ASSIGN_OR_RETURN(auto names, fs->ListDir(root_ + "/snapshots"));
  for (const std::string& name : names) {
    if (known.count(name) == 0) HOIST_TRY(RemoveAll(root_ + "/snapshots/" + name));
  }
  // Temporaries of an atomic metadata write that crashed.
  HOIST_ASSIGN_OR_RETURN(auto top, fs->ListDir(root_));
  for (const std::string& name : top) {
    if (name.rfind(".metadata.json.tmp-", 0) == 0) HOIST_TRY(fs->Remove(root_ + "/" + name));
  }
  return OkStatus();
}

Status SnapshotterBase::Save() {
  // The generation first: a process that sees it change rereads the file, whether or not the
  // write below completes; the other order could leave a change that no one rereads.
  const uint64_t next = generation_ + 1;
  if (::pwrite(meta_lock_fd_.get(), &next, sizeof(next), 0) != sizeof(next)) {
    return Unexpected(ErrnoError(errno, "write " + root_ + "/metadata.lock"));
  }
  generation_ = next;
  return SaveMetadata(root_ + "/metadata.json", metadata_);
}

Result<const Record*> SnapshotterBase::Find(const std::string& key) const {
  if (key.empty()) return MakeError(Code::kInvalidArgument, "snapshot key is empty");
  auto it = metadata_.snapshots.find(key);
  if (it == metadata_.snapshots.end()) {
    return Unexpected(SnapshotError(Code::kNotFound, key, "not found"));
  }
  return &it->second;
}

std::vector<const Record*> SnapshotterBase::ParentsOf(const Record& r) const {
  std::vector<const Record*> out;
  for (const Record* p = &r; !p->info.parent.empty();) {
    p = &metadata_.snapshots.at(p->info.parent);  // the metadata guarantees parents exist
    out.push_back(p);
  }
  return out;
}

Result<Info> SnapshotterBase::Stat(const std::string& key) {
  HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
  HOIST_ASSIGN_OR_RETURN(const Record* r, Find(key));
  return r->info;
}

Result<std::vector<Mount>> SnapshotterBase::Prepare(const std::string& key,
                                                    const std::string& parent,
                                                    const Labels& labels) {
  return Create(Kind::kActive, key, parent, labels);
}

Result<std::vector<Mount>> SnapshotterBase::View(const std::string& key,
                                                 const std::string& parent,
                                                 const Labels& labels) {
  return Create(Kind::kView, key, parent, labels);
}

Result<std::vector<Mount>> SnapshotterBase::PrepareLayer(const std::string& key,
                                                         const std::string& parent,
                                                         const Labels& labels) {
  return Create(Kind::kActive, key, parent, labels,
                LayersInMemory() ? Tree::kMemory : Tree::kDirectory);
}

Result<std::vector<Mount>> SnapshotterBase::Create(Kind kind, const std::string& key,
                                                   const std::string& parent,
                                                   const Labels& labels, Tree tree) {
  HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
  if (key.empty()) return MakeError(Code::kInvalidArgument, "snapshot key is empty");
  if (metadata_.snapshots.count(key) != 0) {
    return Unexpected(SnapshotError(Code::kAlreadyExists, key, "already exists"));
  }
  if (!parent.empty()) {
    auto p = metadata_.snapshots.find(parent);
    if (p == metadata_.snapshots.end()) {
      return MakeError(Code::kNotFound,
                       "parent " + Quote(parent) + " of snapshot " + Quote(key) + ": not found");
    }
    if (p->second.info.kind != Kind::kCommitted) {
      return MakeError(Code::kFailedPrecondition,
                       "parent " + Quote(parent) + " of snapshot " + Quote(key) + ": is " +
                           std::string(KindName(p->second.info.kind)) + ", not committed");
    }
  }
  Record r;
  r.id = metadata_.next_id++;
  r.info.name = key;
  r.info.parent = parent;
  r.info.kind = kind;
  r.info.labels = labels;
  r.tree = tree;
  r.info.created_ns = r.info.updated_ns = NowNs();
  std::vector<const Record*> parents;
  if (!parent.empty()) {
    const Record& p = metadata_.snapshots.at(parent);
    parents.push_back(&p);
    auto rest = ParentsOf(p);
    parents.insert(parents.end(), rest.begin(), rest.end());
  }
  // The mounts are computed first: a parent chain too long to mount fails before any work.
  HOIST_ASSIGN_OR_RETURN(auto mounts, MountsOf(r, parents));
  // The directory exists before the metadata names it; a crash in between leaves an orphan
  // that the next Open removes.
  std::string dir = SnapshotDir(r.id);
  if (::mkdir(dir.c_str(), 0700) != 0) return Unexpected(ErrnoError(errno, "mkdir " + dir));
  if (auto s = CreateDirs(r, parents); !s) {
    (void)RemoveAll(dir);
    return Unexpected(std::move(s).error().Wrap("snapshot " + Quote(key)));
  }
  metadata_.snapshots.emplace(key, r);
  if (auto s = Save(); !s) {
    metadata_.snapshots.erase(key);
    (void)RemoveAll(dir);
    return Unexpected(std::move(s).error().Wrap("snapshot " + Quote(key)));
  }
  return mounts;
}

Result<std::vector<Mount>> SnapshotterBase::Mounts(const std::string& key) {
  HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
  HOIST_ASSIGN_OR_RETURN(const Record* r, Find(key));
  if (r->info.kind == Kind::kCommitted) {
    return Unexpected(SnapshotError(Code::kFailedPrecondition, key,
                                    "is committed; mount it through a View or Prepare"));
  }
  return MountsOf(*r, ParentsOf(*r));
}

Status SnapshotterBase::Commit(const std::string& name, const std::string& key,
                               const Labels& labels) {
  {
    // The heavy part (writing a layer image) runs without the lock, so that other snapshots
    // are prepared and mounted meanwhile; the active snapshot is its caller's alone.
    Record active;
    {
      HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
      HOIST_ASSIGN_OR_RETURN(const Record* found, Find(key));
      active = *found;
    }
    if (active.info.kind == Kind::kActive) {
      if (auto s = BeforeCommit(active); !s) {
        return Unexpected(std::move(s).error().Wrap("commit snapshot " + Quote(key)));
      }
    }
  }
  HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
  HOIST_ASSIGN_OR_RETURN(const Record* found, Find(key));
  if (found->info.kind != Kind::kActive) {
    return Unexpected(SnapshotError(Code::kFailedPrecondition, key,
                                    "is " + std::string(KindName(found->info.kind)) +
                                        ", not active; only active snapshots can be committed"));
  }
  if (name.empty()) return MakeError(Code::kInvalidArgument, "snapshot name is empty");
  if (metadata_.snapshots.count(name) != 0) {
    return Unexpected(SnapshotError(Code::kAlreadyExists, name, "already exists"));
  }
  Record old = *found;
  Record r = old;
  r.info.name = name;
  r.info.kind = Kind::kCommitted;
  if (!labels.empty()) r.info.labels = labels;
  r.info.updated_ns = NowNs();
  if (auto s = CommitTree(r); !s) return Unexpected(std::move(s).error().Wrap("commit snapshot " + Quote(key)));
  metadata_.snapshots.erase(key);
  metadata_.snapshots.emplace(name, r);
  if (auto s = Save(); !s) {
    metadata_.snapshots.erase(name);
    metadata_.snapshots.emplace(key, std::move(old));
    return Unexpected(std::move(s).error().Wrap("commit snapshot " + Quote(key)));
  }
  return OkStatus();
}

Status SnapshotterBase::Remove(const std::string& key) {
  HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
  HOIST_ASSIGN_OR_RETURN(const Record* found, Find(key));
  if (found->info.kind == Kind::kCommitted) {
    size_t children = 0;
    for (const auto& [k, r] : metadata_.snapshots) children += r.info.parent == key ? 1 : 0;
    if (children > 0) {
      return Unexpected(SnapshotError(
          Code::kFailedPrecondition, key,
          "has " + std::to_string(children) + (children == 1 ? " child" : " children") +
              "; remove them first"));
    }
  }
  Record old = *found;
  metadata_.snapshots.erase(key);
  if (auto s = Save(); !s) {
    metadata_.snapshots.emplace(key, std::move(old));
    return Unexpected(std::move(s).error().Wrap("remove snapshot " + Quote(key)));
  }
  // The metadata no longer names the directory: if this fails, the next Open removes it.
  ReleaseTree(old);
  (void)RemoveAll(SnapshotDir(old.id));
  return OkStatus();
}

Status SnapshotterBase::Walk(const std::function<Status(const Info&)>& fn) {
  std::vector<Info> infos;
  {
    HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
    for (const auto& [key, r] : metadata_.snapshots) infos.push_back(r.info);
  }
  for (const Info& info : infos) HOIST_TRY(fn(info));
  return OkStatus();
}

Result<Usage> SnapshotterBase::GetUsage(const std::string& key) {
  std::string path;
  {
    HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
    HOIST_ASSIGN_OR_RETURN(const Record* r, Find(key));
    path = UsagePath(*r);
  }
  auto u = DiskUsage(path);
  if (!u) return Unexpected(std::move(u).error().Wrap("usage of snapshot " + Quote(key)));
  return u;
}

Result<WritableDir> SnapshotterBase::Writable(const std::string& key) {
  HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
  HOIST_ASSIGN_OR_RETURN(const Record* r, Find(key));
  if (r->info.kind != Kind::kActive) {
    return Unexpected(SnapshotError(Code::kFailedPrecondition, key,
                                    "is " + std::string(KindName(r->info.kind)) +
                                        ", not active; it cannot be written"));
  }
  return WritableOf(*r);
}

Status SnapshotterBase::WriteDiff(const std::string& key, archive::TarWriter* out,
                                  const archive::DiffOptions& options) {
  HOIST_ASSIGN_OR_RETURN(Locked lock, Lock());
  HOIST_ASSIGN_OR_RETURN(const Record* r, Find(key));
  if (r->info.kind == Kind::kView) {
    return Unexpected(SnapshotError(Code::kFailedPrecondition, key,
                                    "is a view; it has no changes to diff"));
  }
  auto s = DiffOf(*r, ParentsOf(*r), out, options);
  if (!s) return Unexpected(std::move(s).error().Wrap("diff snapshot " + Quote(key)));
  return OkStatus();
}

}  // namespace hoist::snapshot::internal

namespace hoist::snapshot {

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kCommitted: return "committed";
    case Kind::kActive: return "active";
    case Kind::kView: return "view";
  }
  return "unknown";
}

Result<std::string> UpperDir(Snapshotter& snapshotter, const std::string& key) {
  HOIST_ASSIGN_OR_RETURN(WritableDir dir, snapshotter.Writable(key));
  if (!dir.overlay_upper) {
    return Unexpected(internal::SnapshotError(Code::kFailedPrecondition, key,
                                              "is not an overlay snapshot; it has no upper dir"));
  }
  return dir.path;
}

}  // namespace hoist::snapshot
