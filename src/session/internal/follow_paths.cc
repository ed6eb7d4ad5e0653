#include "session/internal/follow_paths.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "base/pattern_matcher.h"
#include "base/unique_fd.h"

namespace hoist::session::internal {
namespace {

// A hostile tree can make resolution fan out (wildcards over links to links); real ones stay
// far below this.
constexpr int kMaxSteps = 10000;

std::string Join(std::string_view a, std::string_view b) {
  if (a.empty() || a == ".") return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "/" + std::string(b);
}

std::string DirOf(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? "." : std::string(p.substr(0, s));
}

std::string BaseOf(std::string_view p) {
  size_t s = p.rfind('/');
  return std::string(s == std::string_view::npos ? p : p.substr(s + 1));
}

// `p` cleaned as a path below the root: "/a/../b" and "../b" are both "b"; the root is ".".
std::string CleanBelowRoot(std::string_view p) {
  std::string c = CleanPath("/" + std::string(p));
  return c == "/" ? "." : c.substr(1);
}

// Go's filepath.Match wildcard test: an unescaped '*', '?' or '['.
bool ContainsWildcards(std::string_view name) {
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\\') {
      ++i;
    } else if (name[i] == '*' || name[i] == '?' || name[i] == '[') {
      return true;
    }
  }
  return false;
}

class Resolver {
 public:
  explicit Resolver(int root_fd) : root_fd_(root_fd) {}

  Status Append(std::string_view path) {
    std::string p = CleanBelowRoot(path);
    std::string current = ".";
    for (;;) {
      if (++steps_ > kMaxSteps) {
        return MakeError(Code::kInvalidArgument, "follow paths: too many symlinks to resolve");
      }
      size_t slash = p.find('/');
      std::string head = p.substr(0, slash);
      std::string rest = slash == std::string::npos ? "" : p.substr(slash + 1);
      current = Join(current, head);
      HOIST_ASSIGN_OR_RETURN(auto targets, ReadSymlink(current, /*allow_wildcard=*/true));
      if ((rest.empty() || targets) && resolved_.count(current)) return OkStatus();
      if (targets) {
        resolved_.insert(current);
        for (const std::string& t : *targets) HOIST_TRY(Append(Join(t, rest)));
        return OkStatus();
      }
      if (rest.empty()) {
        resolved_.insert(current);
        return OkStatus();
      }
      p = rest;
    }
  }

  const std::set<std::string>& resolved() const { return resolved_; }

 private:
  // The directory `dir` (below the root, "." for the root) opened without following symlinks;
  // an invalid fd when it is missing or not a directory.
  Result<UniqueFd> OpenDir(const std::string& dir) {
    UniqueFd cur(openat(root_fd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!cur) return Unexpected(ErrnoError(errno, "follow paths: open directory"));
    if (dir == ".") return cur;
    for (size_t start = 0; start <= dir.size();) {
      size_t slash = dir.find('/', start);
      if (slash == std::string::npos) slash = dir.size();
      std::string part = dir.substr(start, slash - start);
      UniqueFd next(openat(cur.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return UniqueFd();
        return Unexpected(ErrnoError(errno, "follow paths: open " + dir.substr(0, slash)));
      }
      cur = std::move(next);
      start = slash + 1;
    }
    return cur;
  }

  // What the symlink at `p` points to, as a path from the root ("/x"); nullopt when `p` is
  // missing or not a symlink. With a wildcard last component: the targets of every match.
  Result<std::optional<std::vector<std::string>>> ReadSymlink(const std::string& p,
                                                              bool allow_wildcard) {
    const std::string base = BaseOf(p);
    HOIST_ASSIGN_OR_RETURN(UniqueFd dir, OpenDir(DirOf(p)));
    if (!dir) return std::optional<std::vector<std::string>>();
    if (allow_wildcard && ContainsWildcards(base)) {
      UniqueFd readable(openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!readable) return Unexpected(ErrnoError(errno, "follow paths: read " + DirOf(p)));
      DIR* d = fdopendir(readable.Release());
      if (d == nullptr) return Unexpected(ErrnoError(errno, "follow paths: read " + DirOf(p)));
      // filepath.Match semantics: `?` is one character (not one byte), '!' is no negation.
      auto matcher = PatternMatcher::Create({base[0] == '!' ? "\\" + base : base});
      if (!matcher) {
        closedir(d);
        return Unexpected(std::move(matcher).error().Wrap("follow paths"));
      }
      std::vector<std::string> names;
      while (struct dirent* e = readdir(d)) {
        std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        auto m = matcher->MatchesOrParentMatches(n);
        if (m && *m) names.emplace_back(n);
      }
      closedir(d);
      std::sort(names.begin(), names.end());
      std::vector<std::string> out;
      for (const std::string& n : names) {
        HOIST_ASSIGN_OR_RETURN(auto t, ReadSymlink(Join(DirOf(p), n), false));
        if (t) out.insert(out.end(), t->begin(), t->end());
      }
      // fsutil returns its (possibly empty) list here: the component counts as resolved.
      return std::optional<std::vector<std::string>>(std::move(out));
    }
    struct stat st;
    if (fstatat(dir.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::optional<std::vector<std::string>>();
      return Unexpected(ErrnoError(errno, "follow paths: stat " + p));
    }
    if (!S_ISLNK(st.st_mode)) return std::optional<std::vector<std::string>>();
    std::string link(static_cast<size_t>(std::max<off_t>(st.st_size, 0)) + 256, '\0');
    ssize_t n = readlinkat(dir.get(), base.c_str(), link.data(), link.size());
    if (n < 0) return Unexpected(ErrnoError(errno, "follow paths: readlink " + p));
    link.resize(static_cast<size_t>(n));
    link = CleanPath(link);
    if (!link.empty() && link[0] == '/') return std::optional<std::vector<std::string>>({link});
    return std::optional<std::vector<std::string>>({CleanPath("/" + Join(DirOf(p), link))});
  }

  int root_fd_;
  std::set<std::string> resolved_;
  int steps_ = 0;
};

}  // namespace

std::optional<std::vector<std::string>> DedupePaths(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  std::string last;
  for (const std::string& s : in) {
    if (s == ".") return std::nullopt;
    if (!out.empty() && s.size() > last.size() && s.compare(0, last.size(), last) == 0 &&
        s[last.size()] == '/') {
      continue;
    }
    out.push_back(s);
    last = s;
  }
  return out;
}

Result<std::optional<std::vector<std::string>>> ResolveFollowPaths(
    int root_fd, const std::vector<std::string>& paths) {
  Resolver r(root_fd);
  for (const std::string& p : paths) HOIST_TRY(r.Append(p));
  std::vector<std::string> sorted(r.resolved().begin(), r.resolved().end());
  return DedupePaths(sorted);
}

}  // namespace hoist::session::internal
