#include "source/path_patterns.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "archive/confined_root.h"

namespace hoist::source {

Error GoPathError(int err, std::string_view op, std::string_view clean) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  std::string m(op);
  m.append(" /").append(clean).append(": ").append(text);
  return Error(CodeFromErrno(err), std::move(m));
}

Result<bool> Excluded(const PatternMatcher& m, std::string_view path, bool is_dir) {
  HOIST_ASSIGN_OR_RETURN(bool matched, m.MatchesOrParentMatches(path));
  if (!matched || !is_dir || !m.has_exclusions()) return matched;
  std::string prefix = std::string(path) + "/";
  for (size_t i = 0; i < m.size(); ++i) {
    if (m.is_exclusion(i) && (m.pattern(i) + "/").rfind(prefix, 0) == 0) return false;
  }
  return true;
}

IncludeMatch MatchIncludePattern(std::string_view pattern, std::string_view path, bool is_dir) {
  (void)is_dir;
  IncludeMatch out;
  size_t slashes = static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
  std::string pat(pattern);
  if (static_cast<size_t>(std::count(pat.begin(), pat.end(), '/')) > slashes) {
    // Keep the pattern's first slashes+1 components: a directory on the way to a match.
    size_t pos = 0;
    for (size_t i = 0; i <= slashes; ++i) pos = pat.find('/', pos) + (i < slashes ? 1 : 0);
    pat.resize(pos);
    out.partial = true;
  }
  std::string name(path);
  out.matched = ::fnmatch(pat.c_str(), name.c_str(), FNM_PATHNAME) == 0;
  return out;
}

int ListDir(int dir_fd, std::vector<std::string>* names) {
  names->clear();
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    int e = errno;
    ::close(fd);
    return e;
  }
  errno = 0;
  while (struct dirent* ent = ::readdir(d)) {
    if (std::strcmp(ent->d_name, ".") == 0 || std::strcmp(ent->d_name, "..") == 0) continue;
    names->emplace_back(ent->d_name);
  }
  int e = errno;
  ::closedir(d);
  if (e != 0) return e;
  std::sort(names->begin(), names->end());
  return 0;
}

bool ContainsWildcards(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '*' || s[i] == '?' || s[i] == '[') {
      return true;
    }
  }
  return false;
}

namespace {

Status WalkMatches(int dir_fd, const std::string& rel, const std::string& base_path,
                   const std::string& pattern, int depth_left, std::vector<std::string>* out) {
  std::vector<std::string> names;
  int r = ListDir(dir_fd, &names);
  if (r != 0) return Unexpected(GoPathError(r, "open", base_path + (rel.empty() ? "" : "/" + rel)));
  for (const std::string& name : names) {
    std::string child = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (::fnmatch(pattern.c_str(), child.c_str(), FNM_PATHNAME) == 0) {
      out->push_back(base_path.empty() ? child : base_path + "/" + child);
      continue;
    }
    if (S_ISDIR(st.st_mode) && depth_left > 1) {
      int fd = ::openat(dir_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) continue;
      UniqueFd sub(fd);
      HOIST_TRY(WalkMatches(sub.get(), child, base_path, pattern, depth_left - 1, out));
    }
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<std::string>> ResolveWildcards(archive::ConfinedRoot& root,
                                                  std::string_view clean, bool follow_links) {
  std::string base, pattern;
  size_t i = 0;
  bool found = false;
  int components = 0;
  while (i <= clean.size() && !clean.empty()) {
    size_t slash = clean.find('/', i);
    if (slash == std::string_view::npos) slash = clean.size();
    std::string_view comp = clean.substr(i, slash - i);
    i = slash + 1;
    if (!found && ContainsWildcards(comp)) found = true;
    std::string& dst = found ? pattern : base;
    if (!dst.empty()) dst.push_back('/');
    dst.append(comp);
    if (found) ++components;
  }
  if (!found) return std::vector<std::string>{std::string(clean)};
  std::string resolved = base;
  if (follow_links) {
    int r = root.FollowPath(base, &resolved);
    if (r != 0) return Unexpected(GoPathError(r, "lstat", base));
  }
  UniqueFd dir;
  int r = root.OpenDir(resolved, &dir);
  if (r != 0) return Unexpected(GoPathError(r, "lstat", base));
  std::vector<std::string> out;
  HOIST_TRY(WalkMatches(dir.get(), "", resolved, pattern, components, &out));
  return out;
}

}  // namespace hoist::source
