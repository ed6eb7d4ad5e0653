#include "snapshot/internal/snapshotter_base.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <set>

#include "base/file_system.h"
#include "base/log.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "snapshot/internal/tree_copy.h"

namespace hoist::snapshot::internal {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Quote(const std::string& key) { return "\"" + key + "\""; }

// The journal is folded into metadata.json once it holds this many changes, and when a process
// opens the root alone and it holds a quarter of that.
constexpr uint64_t kCompactAfter = 512;

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
  const std::string journal = root_ + "/metadata.journal";
  journal_fd_ = UniqueFd(::open(journal.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!journal_fd_) return Unexpected(ErrnoError(errno, "open " + journal));
  // Alone: repair what a killed process left, then share. Else another process is using the
  // root (or repairing it: wait for that).
  const bool alone = ::flock(lock_fd_.get(), LOCK_EX | LOCK_NB) == 0;
  if (!alone && ::flock(lock_fd_.get(), LOCK_SH) != 0) {
    return Unexpected(ErrnoError(errno, "lock " + lock_path));
  }
  {
    HOIST_ASSIGN_OR_RETURN(Locked locked, Lock());
    if (alone) HOIST_TRY(Repair());
    // Folded in when alone and long, or cut short by a crash; and a root written before the
    // journal existed is rewritten at once (see Save).
    struct stat st;
    if (::fstat(journal_fd_.get(), &st) != 0) {
      return Unexpected(ErrnoError(errno, "stat " + root_ + "/metadata.journal"));
    }
    const bool torn = static_cast<uint64_t>(st.st_size) != journal_bytes_;
    struct stat meta;
    const bool fresh = ::stat((root_ + "/metadata.json").c_str(), &meta) != 0;
    // A new root gets its metadata.json (which names the driver) before its first change.
    if (fresh || metadata_.version < kMetadataVersion ||
        (alone && (torn || journal_lines_ >= kCompactAfter / 4))) {
      HOIST_TRY(Compact());
    }
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
  uint64_t words[2] = {0, 0};  // generation, epoch
  const ssize_t n = ::pread(fd, words, sizeof(words), 0);
  if (n < 0) return Unexpected(ErrnoError(errno, "read " + root_ + "/metadata.lock"));
  if (n < static_cast<ssize_t>(sizeof(words[0]))) words[0] = 0;
  if (n < static_cast<ssize_t>(sizeof(words))) words[1] = 0;
  if (words[0] == generation_ && !metadata_.driver.empty()) return locked;
  struct stat st;
  if (::fstat(journal_fd_.get(), &st) != 0) {
    return Unexpected(ErrnoError(errno, "stat " + root_ + "/metadata.journal"));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (words[1] != epoch_ || metadata_.driver.empty() || size < journal_bytes_) {
    metadata_.driver.clear();  // until the reload below completes
    HOIST_ASSIGN_OR_RETURN(metadata_, LoadMetadata(root_ + "/metadata.json", driver_));
    journal_bytes_ = journal_lines_ = 0;
  }
  if (size > journal_bytes_) {
    std::string text(size - journal_bytes_, '\0');
    size_t got = 0;
    while (got < text.size()) {
      const ssize_t r = ::pread(journal_fd_.get(), text.data() + got, text.size() - got,
                                static_cast<off_t>(journal_bytes_ + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Unexpected(ErrnoError(errno, "read " + root_ + "/metadata.journal"));
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    text.resize(got);
    auto applied = ApplyJournal(text, root_ + "/metadata.journal", metadata_);
    if (!applied) {
      metadata_.driver.clear();  // partly applied: read afresh next time
      return Unexpected(std::move(applied).error());
    }
    journal_bytes_ += *applied;
    journal_lines_ += static_cast<uint64_t>(
        std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*applied), '\n'));
  }
  generation_ = words[0];
  epoch_ = words[1];
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

Status SnapshotterBase::NextGeneration() {
  // Written before the change: a process that sees it change reads what changed, whether or
  // not the write that follows completes; the other order could leave a change no one reads.
  const uint64_t next = generation_ + 1;
  if (::pwrite(meta_lock_fd_.get(), &next, sizeof(next), 0) != sizeof(next)) {
    return Unexpected(ErrnoError(errno, "write " + root_ + "/metadata.lock"));
  }
  generation_ = next;
  return OkStatus();
}

Status SnapshotterBase::Save(const MetadataChange& change) {
  // A root whose metadata.json predates the journal is rewritten before anything is appended,
  // so that the hoists that wrote it refuse it rather than miss the journal.
  if (metadata_.version < kMetadataVersion) return Compact();
  HOIST_TRY(NextGeneration());

  const std::string path = root_ + "/metadata.journal";
  const int fd = journal_fd_.get();
  // What a crashed writer left after the last whole line goes first.
  struct stat st;
  if (::fstat(fd, &st) != 0) return Unexpected(ErrnoError(errno, "stat " + path));
  if (static_cast<uint64_t>(st.st_size) != journal_bytes_ &&
      ::ftruncate(fd, static_cast<off_t>(journal_bytes_)) != 0) {
    return Unexpected(ErrnoError(errno, "truncate " + path));
  }
  const std::string line = SerializeChange(change);
  size_t done = 0;
  int err = 0;
  while (done < line.size()) {
    const ssize_t w = ::pwrite(fd, line.data() + done, line.size() - done,
                               static_cast<off_t>(journal_bytes_ + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      err = errno;
      break;
    }
    done += static_cast<size_t>(w);
  }
  if (err == 0 && ::fdatasync(fd) != 0) err = errno;
  if (err != 0) {
    // Not recorded: the caller undoes the change, so no one may read the line.
    (void)::ftruncate(fd, static_cast<off_t>(journal_bytes_));
    return Unexpected(ErrnoError(err, "write " + path));
  }
  journal_bytes_ += line.size();
  ++journal_lines_;
  if (journal_lines_ >= kCompactAfter) {
    // The change is recorded; folding the journal in can wait for another time.
    if (auto c = Compact(); !c) HOIST_LOG(kWarning, "snapshots: {}", c.error().message());
  }
  return OkStatus();
}

Status SnapshotterBase::Compact() {
  HOIST_TRY(NextGeneration());
  metadata_.version = kMetadataVersion;
  HOIST_TRY(SaveMetadata(root_ + "/metadata.json", metadata_));
  // The epoch before the journal is emptied: a process that sees the new epoch rereads both,
  // and metadata.json already holds every line the journal still holds.
  const uint64_t epoch = epoch_ + 1;
  if (::pwrite(meta_lock_fd_.get(), &epoch, sizeof(epoch), sizeof(uint64_t)) != sizeof(epoch)) {
    return Unexpected(ErrnoError(errno, "write " + root_ + "/metadata.lock"));
  }
  epoch_ = epoch;
  if (::ftruncate(journal_fd_.get(), 0) != 0) {
    return Unexpected(ErrnoError(errno, "truncate " + root_ + "/metadata.journal"));
  }
  journal_bytes_ = journal_lines_ = 0;
  return OkStatus();
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
  if (auto s = Save({.put = {r}, .next_id = metadata_.next_id}); !s) {
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
  if (auto s = Save({.removed = {key}, .put = {r}, .next_id = metadata_.next_id}); !s) {
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
  if (auto s = Save({.removed = {key}, .next_id = metadata_.next_id}); !s) {
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
