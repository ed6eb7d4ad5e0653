#include "source/local_source.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <memory>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "archive/confined_root.h"
#include "archive/internal/tree_ops.h"
#include "base/stat_time.h"
#include "source/in_place_context.h"
#include "base/log.h"
#include "oci/digest.h"

namespace hoist::source {
namespace {

std::string Join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  return std::string(a) + "/" + std::string(b);
}

std::string ParentOf(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? std::string() : std::string(p.substr(0, s));
}

std::string BaseOf(std::string_view p) {
  size_t s = p.rfind('/');
  return std::string(s == std::string_view::npos ? p : p.substr(s + 1));
}

Status WalkDir(int dir_fd, const std::string& rel,
               std::map<std::pair<dev_t, ino_t>, std::string>* links,
               const std::function<Status(const ContextEntry&)>& fn) {
  std::vector<std::string> names;
  int r = ListDir(dir_fd, &names);
  if (r != 0) return Unexpected(GoPathError(r, "open", rel));
  for (const std::string& name : names) {
    std::string path = Join(rel, name);
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Unexpected(GoPathError(errno, "lstat", path));
    }
    ContextEntry e;
    e.path = path;
    e.mode = st.st_mode;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime_ns = MtimeNs(st);
    if (S_ISREG(st.st_mode)) {
      e.size = static_cast<uint64_t>(st.st_size);
      if (st.st_nlink > 1) {
        auto [it, inserted] = links->emplace(std::make_pair(st.st_dev, st.st_ino), path);
        if (!inserted) e.hardlink_to = it->second;
      }
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(4096, '\0');
      ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
      if (n < 0) return Unexpected(GoPathError(errno, "readlink", path));
      target.resize(static_cast<size_t>(n));
      e.link_target = std::move(target);
    }
    HOIST_TRY(fn(e));
    if (S_ISDIR(st.st_mode)) {
      int fd = ::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return Unexpected(GoPathError(errno, "open", path));
      UniqueFd sub(fd);
      HOIST_TRY(WalkDir(fd, path, links, fn));
    }
  }
  return OkStatus();
}

}  // namespace

Status LocalDirReader::Walk(const ContextFilter& filter,
                            const std::function<Status(const ContextEntry&)>& fn) {
  (void)filter;
  HOIST_ASSIGN_OR_RETURN(auto root, archive::ConfinedRoot::Open(root_));
  std::map<std::pair<dev_t, ino_t>, std::string> links;
  return WalkDir(root.fd(), "", &links, fn);
}

Status LocalDirReader::ReadFile(std::string_view path,
                                const std::function<Status(std::string_view chunk)>& sink) {
  HOIST_ASSIGN_OR_RETURN(auto root, archive::ConfinedRoot::Open(root_));
  std::string clean = archive::CleanInRoot(path);
  UniqueFd dir;
  std::string base;
  int r = root.OpenParent(clean, &dir, &base);
  int fd = r == 0 ? ::openat(dir.get(), base.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
  if (fd < 0) return Unexpected(GoPathError(r != 0 ? r : errno, "open", clean));
  UniqueFd file(fd);
  constexpr size_t kBufSize = 1 << 16;
  const auto buf = std::make_unique_for_overwrite<char[]>(kBufSize);
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kBufSize);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(GoPathError(errno, "read", clean));
    }
    if (n == 0) return OkStatus();
    HOIST_TRY(sink(std::string_view(buf.get(), static_cast<size_t>(n))));
  }
}

namespace {

bool ValidPath(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.back() == '/') return false;
  size_t i = 0;
  while (i <= p.size()) {
    size_t s = p.find('/', i);
    if (s == std::string_view::npos) s = p.size();
    std::string_view c = p.substr(i, s - i);
    if (c.empty() || c == "." || c == "..") return false;
    i = s + 1;
  }
  return true;
}

bool UnderOrParentOf(std::string_view path, std::string_view fp) {
  auto prefix = [](std::string_view a, std::string_view b) {  // a is b or a parent of b
    return a == b || (b.size() > a.size() && b.substr(0, a.size()) == a && b[a.size()] == '/');
  };
  return prefix(path, fp) || prefix(fp, path);
}

// Which walked entries a sync keeps.
class Selection {
 public:
  Status Init(const ContextFilter& f) {
    for (const auto& p : f.follow_paths) follow_.push_back(archive::CleanInRoot(p));
    for (const auto& p : f.include_patterns) include_.push_back(archive::CleanInRoot(p));
    if (!f.exclude_patterns.empty()) {
      auto m = PatternMatcher::Create(f.exclude_patterns);
      if (!m) return Unexpected(std::move(m).error().Wrap("sync: exclude patterns"));
      exclude_.emplace(std::move(*m));
    }
    return OkStatus();
  }

  // 0: drop, 1: keep, 2: keep only if something below is kept (a directory on the way).
  Result<int> Decide(const ContextEntry& e) const {
    bool is_dir = S_ISDIR(e.mode);
    int verdict = 1;
    if (!follow_.empty()) {
      bool any = false, below = false;
      for (const auto& fp : follow_) {
        if (fp.empty() || UnderOrParentOf(e.path, fp)) any = true;
        if (fp.empty() || e.path == fp ||
            (e.path.size() > fp.size() && e.path.compare(0, fp.size(), fp) == 0 &&
             e.path[fp.size()] == '/')) {
          below = true;
        }
      }
      if (!any) return 0;
      if (!below) verdict = 2;
    }
    if (!include_.empty()) {
      bool matched = false, partial = true;
      for (const auto& p : include_) {
        // A path below a matched directory is included with it.
        std::string_view path = e.path;
        for (;;) {
          auto m = MatchIncludePattern(p, path, is_dir);
          if (m.matched && (!m.partial || path.size() == e.path.size())) {
            matched = true;
            if (!m.partial) partial = false;
          }
          if (!partial) break;
          size_t s = path.rfind('/');
          if (s == std::string_view::npos) break;
          path = path.substr(0, s);
        }
        if (!partial) break;
      }
      if (!matched) return 0;
      if (partial) {
        if (!is_dir) return 0;
        verdict = 2;
      }
    }
    if (exclude_) {
      HOIST_ASSIGN_OR_RETURN(bool matched, exclude_->MatchesOrParentMatches(e.path));
      if (matched) {
        HOIST_ASSIGN_OR_RETURN(bool ex, Excluded(*exclude_, e.path, is_dir));
        return ex ? 0 : 2;  // a directory that may hold re-included paths
      }
    }
    return verdict;
  }

 private:
  std::vector<std::string> follow_;
  std::vector<std::string> include_;
  std::optional<PatternMatcher> exclude_;
};

// Opens directories of the target by path without following symlinks (a client's symlink
// named like a directory never redirects a write).
class TargetDirs {
 public:
  explicit TargetDirs(int root_fd) : root_fd_(root_fd) {}

  int Open(const std::string& dir, UniqueFd* out) {
    if (dir.empty()) {
      int fd = ::openat(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return errno;
      out->Reset(fd);
      return 0;
    }
    // Entries are valid relative paths whose parents the syncer made real directories; the
    // kernel checks it again where it can (no symlink, nothing outside the target).
    struct open_how how {};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
    long fd = ::syscall(SYS_openat2, root_fd_, dir.c_str(), &how, sizeof(how));
    if (fd < 0 && errno == ENOSYS) {
      fd = ::openat(root_fd_, dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) return errno;
    out->Reset(static_cast<int>(fd));
    return 0;
  }

 private:
  int root_fd_;
};

bool SameMeta(const struct stat& st, const ContextEntry& e) {
  if ((st.st_mode & S_IFMT) != (e.mode & S_IFMT)) return false;
  if ((st.st_mode & 07777) != (e.mode & 07777)) return false;
  if (st.st_uid != e.uid || st.st_gid != e.gid) return false;
  int64_t mt = MtimeNs(st);
  if (S_ISREG(e.mode)) return mt == e.mtime_ns && static_cast<uint64_t>(st.st_size) == e.size;
  return true;
}


Error SyncError(std::string_view path, const Error& e) {
  return Error(e.code(), "sync \"" + std::string(path) + "\": " + e.message());
}

Status RemoveUnlisted(int dir_fd, const std::string& rel, const std::unordered_set<std::string>& keep,
                      SyncStats* stats) {
  std::vector<std::string> names;
  int r = ListDir(dir_fd, &names);
  if (r != 0) return Unexpected(GoPathError(r, "open", rel));
  for (const auto& n : names) {
    std::string p = Join(rel, n);
    if (!keep.count(p)) {
      r = archive::internal::RemoveTreeAt(dir_fd, n.c_str());
      if (r != 0) return Unexpected(GoPathError(r, "remove", p));
      ++stats->deleted;
      continue;
    }
    struct stat st;
    if (::fstatat(dir_fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      int fd = ::openat(dir_fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return Unexpected(GoPathError(errno, "open", p));
      UniqueFd sub(fd);
      HOIST_TRY(RemoveUnlisted(fd, p, keep, stats));
    }
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<ContextEntry>> SelectContext(ContextReader& reader, const ContextFilter& filter) {
  Selection sel;
  HOIST_TRY(sel.Init(filter));
  // The client's entries, decided.
  std::vector<ContextEntry> entries;
  std::vector<int> verdicts;
  std::set<std::string> seen;
  std::map<std::string, bool> files;  // regular files walked (not links): whether kept
  std::unordered_map<std::string, size_t> entry_index;  // path → its index in entries
  HOIST_TRY(reader.Walk(filter, [&](const ContextEntry& e) -> Status {
    if (!ValidPath(e.path)) {
      return MakeError(Code::kInvalidArgument, "sync: invalid path \"" + e.path + "\"");
    }
    if (!seen.insert(e.path).second) {
      return MakeError(Code::kInvalidArgument, "sync: duplicate path \"" + e.path + "\"");
    }
    std::string parent = ParentOf(e.path);
    if (!parent.empty()) {
      // The parent must have come before, as a directory.
      auto it = entry_index.find(parent);
      bool kept_or_seen = seen.count(parent) != 0;
      if (!kept_or_seen || (it != entry_index.end() && !S_ISDIR(entries[it->second].mode))) {
        return MakeError(Code::kInvalidArgument,
                         "sync: \"" + e.path + "\" comes before its directory or not below one");
      }
    }
    if (!e.hardlink_to.empty()) {
      // A hard link names an earlier regular file of this walk, nothing else.
      if (!S_ISREG(e.mode) || !files.count(e.hardlink_to)) {
        return MakeError(Code::kInvalidArgument, "sync: \"" + e.path +
                                                     "\": hard link to \"" + e.hardlink_to +
                                                     "\", which is not an earlier file");
      }
    }
    HOIST_ASSIGN_OR_RETURN(int v, sel.Decide(e));
    if (S_ISREG(e.mode) && e.hardlink_to.empty()) files.emplace(e.path, v != 0);
    if (v == 0) return OkStatus();
    entry_index[e.path] = entries.size();
    entries.push_back(e);
    // A link to a file the filters dropped becomes a file of its own.
    if (!e.hardlink_to.empty() && !files[e.hardlink_to]) {
      entries.back().hardlink_to.clear();
      files[e.path] = true;
    }
    verdicts.push_back(v);
    return OkStatus();
  }));
  // Directories kept only on the way to something kept: drop the ones that hold nothing.
  std::unordered_set<std::string> keep;
  for (size_t i = entries.size(); i-- > 0;) {
    if (verdicts[i] == 2 && !keep.count(entries[i].path)) continue;
    keep.insert(entries[i].path);
    for (std::string p = ParentOf(entries[i].path); !p.empty(); p = ParentOf(p)) {
      if (!keep.insert(p).second) break;
    }
  }
  std::vector<ContextEntry> kept;
  kept.reserve(keep.size());
  for (ContextEntry& e : entries) {
    if (keep.count(e.path)) kept.push_back(std::move(e));
  }
  return kept;
}

ContextEntry ContextEntryOf(const session::FileEntry& e) {
  return ContextEntry{.path = e.path,
                      .mode = e.mode,
                      .uid = e.uid,
                      .gid = e.gid,
                      .size = static_cast<uint64_t>(e.size),
                      .mtime_ns = e.mtime_ns,
                      .link_target = e.link_target,
                      .hardlink_to = e.hardlink_to};
}

Result<SyncStats> LocalSync(ContextReader& reader, const std::string& target,
                            const SyncOptions& options) {
  HOIST_ASSIGN_OR_RETURN(std::vector<ContextEntry> entries, SelectContext(reader, options.filter));
  std::unordered_set<std::string> keep;
  for (const ContextEntry& e : entries) keep.insert(e.path);

  // Pass 2: the target.
  if (::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST) {
    return Unexpected(ErrnoError(errno, "sync: create target"));
  }
  int rfd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) return Unexpected(ErrnoError(errno, "sync: open target"));
  UniqueFd root(rfd);
  if (reader.ReadsAhead()) {
    // The files the loop below will read, so that a remote reader asks for them ahead. (The
    // loop decides again, entry by entry: this only has to be a good guess.)
    std::vector<std::string> to_read;
    for (const ContextEntry& e : entries) {
      if (!S_ISREG(e.mode) || !e.hardlink_to.empty() || !keep.count(e.path)) continue;
      struct stat st;
      if (::fstatat(rfd, e.path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
          SameMeta(st, e)) {
        continue;
      }
      to_read.push_back(e.path);
    }
    if (!to_read.empty()) reader.Prefetch(to_read);
  }
  TargetDirs dirs(rfd);
  SyncStats stats;
  std::vector<const ContextEntry*> dir_entries;
  std::string cached_dir = "\x01";
  UniqueFd dfd;
  for (const ContextEntry& e : entries) {
    if (!keep.count(e.path)) continue;
    ++stats.entries;
    std::string parent = ParentOf(e.path), base = BaseOf(e.path);
    if (parent != cached_dir) {
      int r = dirs.Open(parent, &dfd);
      if (r != 0) return Unexpected(SyncError(e.path, GoPathError(r, "open", parent)));
      cached_dir = parent;
    }
    const char* name = base.c_str();
    struct stat st;
    bool exists = ::fstatat(dfd.get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (S_ISDIR(e.mode)) {
      dir_entries.push_back(&e);
      if (exists && S_ISDIR(st.st_mode)) {
        if (SameMeta(st, e)) {
          ++stats.unchanged;
          continue;
        }
      } else {
        if (exists) archive::internal::RemoveTreeAt(dfd.get(), name);
        if (::mkdirat(dfd.get(), name, 0700) != 0) {
          return Unexpected(SyncError(e.path, GoPathError(errno, "mkdir", e.path)));
        }
      }
      if (::fchownat(dfd.get(), name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
          ::fchmodat(dfd.get(), name, e.mode & 07777, 0) != 0) {
        return Unexpected(SyncError(e.path, GoPathError(errno, "chown", e.path)));
      }
      continue;
    }
    if (!e.hardlink_to.empty()) {
      if (exists) archive::internal::RemoveTreeAt(dfd.get(), name);
      UniqueFd ldir;
      int r = dirs.Open(ParentOf(e.hardlink_to), &ldir);
      if (r == 0 && ::linkat(ldir.get(), BaseOf(e.hardlink_to).c_str(), dfd.get(), name, 0) != 0) {
        r = errno;
      }
      if (r != 0) return Unexpected(SyncError(e.path, GoPathError(r, "link", e.path)));
      continue;
    }
    if (S_ISLNK(e.mode)) {
      if (exists && S_ISLNK(st.st_mode) && st.st_uid == e.uid && st.st_gid == e.gid) {
        std::string cur(4096, '\0');
        ssize_t n = ::readlinkat(dfd.get(), name, cur.data(), cur.size());
        if (n >= 0 && std::string_view(cur.data(), n) == e.link_target) {
          ++stats.unchanged;
          continue;
        }
      }
      if (exists) archive::internal::RemoveTreeAt(dfd.get(), name);
      if (::symlinkat(e.link_target.c_str(), dfd.get(), name) != 0 ||
          ::fchownat(dfd.get(), name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW) != 0) {
        return Unexpected(SyncError(e.path, GoPathError(errno, "symlink", e.path)));
      }
      struct timespec ts[2] = {TimespecOf(e.mtime_ns), TimespecOf(e.mtime_ns)};
      ::utimensat(dfd.get(), name, ts, AT_SYMLINK_NOFOLLOW);
      continue;
    }
    if (!S_ISREG(e.mode)) {  // devices, FIFOs, sockets are not part of a context
      keep.erase(e.path);
      --stats.entries;
      continue;
    }
    if (exists && S_ISREG(st.st_mode) && SameMeta(st, e)) {
      ++stats.unchanged;
      continue;
    }
    // A changed file is written beside and renamed over, so a failed read leaves the old file;
    // a new one is written in place (and removed if the read fails).
    std::string tmp = exists ? ".hoist-sync-" + base : base;
    if (tmp.size() > 255) tmp = ".hoist-sync-tmp";
    if (exists) ::unlinkat(dfd.get(), tmp.c_str(), 0);
    int fd = ::openat(dfd.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return Unexpected(SyncError(e.path, GoPathError(errno, "open", e.path)));
    UniqueFd out(fd);
    uint64_t written = 0;
    Status st_read = reader.ReadFile(e.path, [&](std::string_view chunk) -> Status {
      for (size_t off = 0; off < chunk.size();) {
        ssize_t n = ::write(fd, chunk.data() + off, chunk.size() - off);
        if (n < 0) return Unexpected(GoPathError(errno, "write", e.path));
        off += static_cast<size_t>(n);
      }
      written += chunk.size();
      return OkStatus();
    });
    ++stats.files_read;
    stats.bytes_read += written;
    int r = 0;
    if (st_read && (::fchown(fd, e.uid, e.gid) != 0 || ::fchmod(fd, e.mode & 07777) != 0)) r = errno;
    if (st_read && r == 0) {
      struct timespec ts[2] = {TimespecOf(e.mtime_ns), TimespecOf(e.mtime_ns)};
      if (::futimens(fd, ts) != 0) r = errno;
    }
    if (st_read && r == 0 && exists) {
      if (S_ISDIR(st.st_mode)) archive::internal::RemoveTreeAt(dfd.get(), name);
      if (::renameat(dfd.get(), tmp.c_str(), dfd.get(), name) != 0) r = errno;
    }
    if (!st_read || r != 0) {
      ::unlinkat(dfd.get(), tmp.c_str(), 0);
      if (!st_read) return Unexpected(SyncError(e.path, st_read.error()));
      return Unexpected(SyncError(e.path, GoPathError(r, "write", e.path)));
    }
  }
  HOIST_TRY(RemoveUnlisted(rfd, "", keep, &stats));
  // Directory times last, deepest first, after their contents changed.
  for (auto it = dir_entries.rbegin(); it != dir_entries.rend(); ++it) {
    UniqueFd d;
    if (dirs.Open(ParentOf((*it)->path), &d) != 0) continue;
    struct timespec ts[2] = {TimespecOf((*it)->mtime_ns), TimespecOf((*it)->mtime_ns)};
    ::utimensat(d.get(), BaseOf((*it)->path).c_str(), ts, AT_SYMLINK_NOFOLLOW);
  }
  return stats;
}

// ---- Checksum ----

namespace {

constexpr std::string_view kPrefix("hoist.contenthash.v1\0", 21);

int64_t Ns(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

// One Checksum call's use of the cache: what it looked up, and the batch it commits.
struct Hashing {
  const ChecksumOptions& options;
  ChecksumCache* cache = nullptr;  // options.cache, unless there is no scope to use it with
  int64_t racy_before_ns = 0;  // entries with a time at or after this are not recorded
  std::vector<CachedChecksum> batch;
  ChecksumStats stats;
};

// The sha256 of the contents of regular file `name` (stat'ed as `st`), `rel` inside the root.
Result<oci::Digest> ContentDigest(int dir_fd, const std::string& name, const struct stat& st,
                                  const std::string& rel, const std::string& display,
                                  Hashing& h) {
  ChecksumCache* cache = h.cache;
  const FileIdentity identity = StatIdentity(st);
  if (cache != nullptr) {
    if (auto d = cache->Lookup(h.options.scope, rel, identity)) {
      ++h.stats.files_reused;
      if (h.options.in_place != nullptr) HOIST_TRY(h.options.in_place->Record(rel, identity, *d));
      return std::move(*d);
    }
  }
  int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Unexpected(GoPathError(errno, "open", display));
  UniqueFd f(fd);
  oci::Digester content;
  constexpr size_t kBufSize = 1 << 16;
  const auto buf = std::make_unique_for_overwrite<char[]>(kBufSize);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kBufSize);
    if (n < 0) return Unexpected(GoPathError(errno, "read", display));
    if (n == 0) break;
    content.Update(buf.get(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  oci::Digest digest = content.Finish();
  if (h.options.in_place != nullptr) HOIST_TRY(h.options.in_place->Record(rel, identity, digest));
  ++h.stats.files_hashed;
  h.stats.bytes_hashed += total;
  if (cache != nullptr && identity.mtime_ns < h.racy_before_ns &&
      identity.ctime_ns < h.racy_before_ns) {
    // Recorded only if what was read is what was stat'ed: same inode, untouched since.
    struct stat after;
    if (::fstat(fd, &after) == 0 && StatIdentity(after) == identity) {
      h.batch.push_back(CachedChecksum{.path = rel, .identity = identity, .digest = digest});
    }
  }
  return digest;
}

// `rel` is the entry's path inside the root as the cache knows it, `display` as errors name it.
Result<oci::Digest> ChecksumAt(int dir_fd, const std::string& name, const std::string& rel,
                               const std::string& display, Hashing& h) {
  struct stat st;
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return Unexpected(GoPathError(errno, "lstat", display));
  }
  if (h.options.in_place != nullptr) HOIST_TRY(h.options.in_place->CheckEntry(rel, st));
  char type = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : S_ISLNK(st.st_mode) ? 'l' : 'o';
  std::string link;
  if (S_ISLNK(st.st_mode)) {
    link.resize(4096);
    ssize_t n = ::readlinkat(dir_fd, name.c_str(), link.data(), link.size());
    if (n < 0) return Unexpected(GoPathError(errno, "readlink", display));
    link.resize(static_cast<size_t>(n));
  }
  char header[96];
  std::snprintf(header, sizeof(header), "%c %o %u %u %llu ", type,
                static_cast<unsigned>(st.st_mode & 07777), st.st_uid, st.st_gid,
                S_ISREG(st.st_mode) ? static_cast<unsigned long long>(st.st_size) : 0ULL);
  oci::Digester d;
  d.Update(kPrefix);
  d.Update(header);
  d.Update(link);
  d.Update(std::string_view("\0", 1));
  if (S_ISREG(st.st_mode)) {
    HOIST_ASSIGN_OR_RETURN(oci::Digest content, ContentDigest(dir_fd, name, st, rel, display, h));
    d.Update(content.str());
  } else if (S_ISDIR(st.st_mode)) {
    int fd = ::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return Unexpected(GoPathError(errno, "open", display));
    UniqueFd sub(fd);
    std::vector<std::string> names;
    int r = ListDir(fd, &names);
    if (r != 0) return Unexpected(GoPathError(r, "open", display));
    if (h.options.in_place != nullptr) HOIST_TRY(h.options.in_place->CheckDir(rel, names));
    for (const auto& n : names) {
      HOIST_ASSIGN_OR_RETURN(oci::Digest c, ChecksumAt(fd, n, Join(rel, n), Join(display, n), h));
      d.Update(n);
      d.Update(std::string_view("\0", 1));
      d.Update(c.str());
    }
  }
  return d.Finish();
}

Result<oci::Digest> ChecksumPath(archive::ConfinedRoot& root, const std::string& clean,
                                 bool follow_links, Hashing& h) {
  std::string path = clean;
  if (follow_links) {
    int r = root.FollowPath(clean, &path);
    if (r != 0) return Unexpected(GoPathError(r, "lstat", clean));
  }
  UniqueFd dir;
  std::string base;
  int r = path.empty() ? root.OpenDir("", &dir) : root.OpenParent(path, &dir, &base);
  if (path.empty()) base = ".";
  if (r != 0) return Unexpected(GoPathError(r, "lstat", clean));
  if (h.options.in_place != nullptr) {
    // Checked and pinned by where the file is, symlinks on the way resolved.
    HOIST_ASSIGN_OR_RETURN(path, InPlaceContext::PathInRoot(root.fd(), dir.get(), base));
  }
  return ChecksumAt(dir.get(), base, path, clean, h);
}

Result<oci::Digest> ChecksumMatches(archive::ConfinedRoot& root, const std::string& clean,
                                    bool follow_links, bool wildcard, Hashing& h) {
  if (!wildcard || !ContainsWildcards(clean)) return ChecksumPath(root, clean, follow_links, h);
  HOIST_ASSIGN_OR_RETURN(auto matches, ResolveWildcards(root, clean, follow_links));
  if (matches.empty()) return Unexpected(GoPathError(ENOENT, "lstat", clean));
  oci::Digester d;
  d.Update(std::string_view("hoist.contenthash.v1 wildcard\0", 30));
  for (const auto& m : matches) {
    HOIST_ASSIGN_OR_RETURN(oci::Digest c, ChecksumPath(root, m, follow_links, h));
    d.Update(m);
    d.Update(std::string_view("\0", 1));
    d.Update(c.str());
  }
  return d.Finish();
}

}  // namespace

Result<oci::Digest> Checksum(const std::string& root_path, std::string_view path,
                             bool follow_links, bool wildcard, const ChecksumOptions& options) {
  HOIST_ASSIGN_OR_RETURN(auto root, archive::ConfinedRoot::Open(root_path));
  std::string clean = archive::CleanInRoot(path);
  Hashing h{.options = options,
            .cache = options.scope.empty() ? nullptr : options.cache};
  if (h.cache != nullptr) {
    int64_t now = options.now_ns;
    if (now == 0) {
      struct timespec ts;
      ::clock_gettime(CLOCK_REALTIME, &ts);
      now = Ns(ts);
    }
    h.racy_before_ns = now - options.racy_margin_ns;
  }
  Result<oci::Digest> sum = ChecksumMatches(root, clean, follow_links, wildcard, h);
  if (options.stats != nullptr) {
    options.stats->files_hashed += h.stats.files_hashed;
    options.stats->bytes_hashed += h.stats.bytes_hashed;
    options.stats->files_reused += h.stats.files_reused;
  }
  if (sum && h.cache != nullptr) {
    // A cache that cannot be written costs time, not correctness.
    if (Status st = h.cache->Commit(options.scope, std::move(h.batch)); !st) {
      HOIST_LOG(kWarning, "{}", st.error().message());
    }
  }
  return sum;
}

}  // namespace hoist::source
