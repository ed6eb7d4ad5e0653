#include "session/internal/fs_client_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <vector>

#include "base/pattern_matcher.h"
#include "session/internal/follow_paths.h"

namespace hoist::session::internal {
namespace {

// A file opened by descriptor; reads are preads.
class FdFile final : public ReadableFile {
 public:
  explicit FdFile(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<size_t> ReadAt(uint64_t offset, void* buf, size_t n) override {
    for (;;) {
      ssize_t got = pread(fd_.get(), buf, n, static_cast<off_t>(offset));
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return Unexpected(ErrnoError(errno, "read"));
    }
  }
  Result<uint64_t> Size() override {
    struct stat st;
    if (fstat(fd_.get(), &st) != 0) return Unexpected(ErrnoError(errno, "stat"));
    return static_cast<uint64_t>(st.st_size);
  }
  int fd() const override { return fd_.get(); }

 private:
  UniqueFd fd_;
};

Result<std::vector<std::string>> ListNames(int dirfd) {
  // fdopendir takes the descriptor, so hand it a duplicate opened for reading.
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Unexpected(ErrnoError(errno, "open directory"));
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    close(fd);
    return Unexpected(ErrnoError(err, "read directory"));
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = readdir(dir)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
    errno = 0;
  }
  int err = errno;
  closedir(dir);
  if (err != 0) return Unexpected(ErrnoError(err, "read directory"));
  std::sort(names.begin(), names.end());
  return names;
}

// A pattern without a trailing "/**" or "/*" (fsutil's patternWithoutTrailingGlob).
std::string_view WithoutTrailingGlob(std::string_view p) {
  for (std::string_view suffix : {"/**", "/*"}) {
    if (p.ends_with(suffix)) p.remove_suffix(suffix.size());
  }
  return p;
}

// Whether every include pattern is a plain path (a trailing glob aside), so that a directory
// no pattern reaches into can be skipped whole, as fsutil does.
bool OnlyPrefixIncludes(const PatternMatcher& include) {
  for (size_t i = 0; i < include.size(); ++i) {
    if (include.is_exclusion(i)) continue;
    if (WithoutTrailingGlob(include.pattern(i)).find_first_of("*[]?^\\") !=
        std::string_view::npos) {
      return false;
    }
  }
  return true;
}

struct Walker {
  const std::function<Status(const FileEntry&)>& fn;
  CancelContext* cancel;
  const PatternMatcher* include;  // null: everything is included
  const PatternMatcher* exclude;  // null: nothing is excluded
  const std::string& dir_name;
  bool only_prefix_includes = false;
  // Directories seen but not yet sent: they are sent only when something under them is.
  std::vector<FileEntry> pending;
  // Regular files with more than one link that were sent: the first path of each inode.
  std::map<std::pair<dev_t, ino_t>, std::string> links;

  // Whether an include pattern may match something below the directory `rel`.
  bool IncludeMayMatchBelow(const std::string& rel) const {
    if (!only_prefix_includes) return true;
    const std::string dir_slash = rel + "/";
    for (size_t i = 0; i < include->size(); ++i) {
      if (include->is_exclusion(i)) continue;
      std::string p(WithoutTrailingGlob(include->pattern(i)));
      if ((p + "/").starts_with(dir_slash)) return true;
    }
    return false;
  }

  Status Emit(const FileEntry& e) {
    for (const FileEntry& p : pending) HOIST_TRY(fn(p));
    pending.clear();
    return fn(e);
  }

  // `excl_parent` / `incl_parent`: the matchers' results for this directory, reused for its
  // entries so that patterns are not re-evaluated along the whole path.
  Status WalkDir(int dirfd, const std::string& prefix, const PatternMatcher::MatchInfo& excl_parent,
                 const PatternMatcher::MatchInfo& incl_parent) {
    HOIST_ASSIGN_OR_RETURN(auto names, ListNames(dirfd));
    for (const std::string& name : names) {
      if (cancel != nullptr) HOIST_TRY(cancel->Check());
      std::string rel = prefix.empty() ? name : prefix + "/" + name;
      struct stat st;
      if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we walk
        return Unexpected(ErrnoError(errno, "stat " + rel + " in local dir " + dir_name));
      }
      bool is_dir = S_ISDIR(st.st_mode);
      bool excluded = false;
      PatternMatcher::MatchInfo excl_info, incl_info;
      if (exclude != nullptr) {
        HOIST_ASSIGN_OR_RETURN(excluded,
                               exclude->MatchesUsingParentResults(rel, excl_parent, &excl_info));
      }
      if (excluded && !(is_dir && exclude->has_exclusions())) continue;
      bool included = true;
      if (include != nullptr) {
        HOIST_ASSIGN_OR_RETURN(included,
                               include->MatchesUsingParentResults(rel, incl_parent, &incl_info));
      }
      if (!included && !is_dir) continue;
      if (!included && !IncludeMayMatchBelow(rel)) continue;

      FileEntry entry;
      entry.path = rel;
      entry.mode = st.st_mode;
      entry.uid = st.st_uid;
      entry.gid = st.st_gid;
      entry.size = S_ISREG(st.st_mode) ? st.st_size : 0;
      entry.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<size_t>(std::max<off_t>(st.st_size, 0)) + 1, '\0');
        for (;;) {
          ssize_t n = readlinkat(dirfd, name.c_str(), target.data(), target.size());
          if (n < 0)
            return Unexpected(ErrnoError(errno, "readlink " + rel + " in local dir " + dir_name));
          if (static_cast<size_t>(n) < target.size()) {
            target.resize(static_cast<size_t>(n));
            break;
          }
          target.resize(target.size() * 2);
        }
        entry.link_target = std::move(target);
      }
      if (!is_dir) {
        if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
          auto [it, first] = links.emplace(std::make_pair(st.st_dev, st.st_ino), rel);
          if (!first) entry.hardlink_to = it->second;
        }
        HOIST_TRY(Emit(entry));
        continue;
      }
      UniqueFd sub(openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) {
        if (errno == ENOENT) continue;
        return Unexpected(ErrnoError(errno, "open " + rel + " in local dir " + dir_name));
      }
      if (!excluded && included) {
        HOIST_TRY(Emit(entry));
        HOIST_TRY(WalkDir(sub.get(), rel, excl_info, incl_info));
      } else {
        size_t depth = pending.size();
        pending.push_back(std::move(entry));
        HOIST_TRY(WalkDir(sub.get(), rel, excl_info, incl_info));
        if (pending.size() > depth) pending.resize(depth);
      }
    }
    return {};
  }
};

Result<std::optional<PatternMatcher>> Compile(const std::vector<std::string>& patterns,
                                              const std::string& dir_name) {
  if (patterns.empty()) return std::optional<PatternMatcher>();
  auto m = PatternMatcher::Create(patterns);
  if (!m) return Unexpected(std::move(m).error().Wrap("local dir " + dir_name));
  return std::optional<PatternMatcher>(std::move(*m));
}

}  // namespace

Result<std::shared_ptr<FsClientDir>> FsClientDir::Open(std::string name, const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Unexpected(ErrnoError(errno, "open local dir " + path));
  return std::shared_ptr<FsClientDir>(new FsClientDir(std::move(name), std::move(fd)));
}

Status FsClientDir::Walk(const WalkOptions& options,
                         const std::function<Status(const FileEntry&)>& fn, CancelContext* cancel) {
  std::vector<std::string> include_patterns = options.include_patterns;
  if (!options.follow_paths.empty()) {
    // As fsutil: the resolved follow paths join the include patterns (a follow path that is
    // the whole directory adds nothing, and an include pattern "." then lifts the filter).
    HOIST_ASSIGN_OR_RETURN(auto targets, ResolveFollowPaths(root_.get(), options.follow_paths));
    if (targets) {
      include_patterns.insert(include_patterns.end(), targets->begin(), targets->end());
      auto deduped = DedupePaths(include_patterns);
      include_patterns = deduped ? std::move(*deduped) : std::vector<std::string>{};
    }
  }
  HOIST_ASSIGN_OR_RETURN(auto include, Compile(include_patterns, name_));
  HOIST_ASSIGN_OR_RETURN(auto exclude, Compile(options.exclude_patterns, name_));
  Walker w{fn, cancel, include ? &*include : nullptr, exclude ? &*exclude : nullptr, name_};
  w.only_prefix_includes = include && OnlyPrefixIncludes(*include);
  return w.WalkDir(root_.get(), "", {}, {});
}

UniqueFd FsClientDir::OpenInPlace() { return UniqueFd(fcntl(root_.get(), F_DUPFD_CLOEXEC, 0)); }

Result<std::unique_ptr<ReadableFile>> FsClientDir::OpenFile(std::string_view path) {
  const std::string shown(path);
  auto invalid = [&] {
    return MakeError(Code::kInvalidArgument,
                     "local dir " + name_ + ": invalid path \"" + shown + "\"");
  };
  if (path.empty() || path.front() == '/') return invalid();
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t slash = path.find('/', start);
    std::string_view part =
        path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    if (part.empty() || part == "." || part == "..") return invalid();
    parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  auto fail = [&](int err) {
    if (err == ELOOP || err == ENOTDIR) {
      return MakeError(Code::kPermissionDenied, "local dir " + name_ + ": open " + shown +
                                                    ": a symlink or non-directory is in the "
                                                    "way; symlinks are not followed");
    }
    return Unexpected(ErrnoError(err, "local dir " + name_ + ": open " + shown));
  };
  UniqueFd cur;
  int at = root_.get();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    UniqueFd next(openat(at, parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return fail(errno);
    cur = std::move(next);
    at = cur.get();
  }
  // O_NONBLOCK so that a FIFO cannot block the open; it is refused just below.
  UniqueFd fd(openat(at, parts.back().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return fail(errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return fail(errno);
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Code::kInvalidArgument,
                     "local dir " + name_ + ": " + shown + " is not a regular file");
  }
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags >= 0) fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return std::unique_ptr<ReadableFile>(std::make_unique<FdFile>(std::move(fd)));
}

}  // namespace hoist::session::internal
