#include "base/internal/ignore_pattern.h"

#include <cstdint>

#include "base/utf8.h"

namespace hoist::internal {
namespace {

constexpr std::string_view kBadPattern = "syntax error in pattern";

// Regexp metacharacters that mean nothing to filepath.Match; upstream escapes them.
bool ShouldEscape(char32_t r) {
  switch (r) {
    case '.':
    case '+':
    case '(':
    case ')':
    case '|':
    case '{':
    case '}':
    case '$':
      return true;
    default:
      return false;
  }
}

// How upstream writes one pattern rune into its regexp (outside the `**` handling).
void AppendRegexRune(std::string* re, const std::vector<char32_t>& runes, size_t* i) {
  const char32_t ch = runes[(*i)++];
  if (ch == '*') {
    *re += "[^/]*";
  } else if (ch == '?') {
    *re += "[^/]";
  } else if (ShouldEscape(ch)) {
    re->push_back('\\');
    AppendRune(re, ch);
  } else if (ch == '\\') {
    re->push_back('\\');
    if (*i < runes.size()) AppendRune(re, runes[(*i)++]);
  } else {
    AppendRune(re, ch);
  }
}

// One filepath.Match class member (getEsc): fails on an empty rest, a bare '-' or ']', a
// dangling '\', an invalid byte, or a member that ends the pattern.
bool ScanClassMember(std::string_view p, size_t* i) {
  if (*i >= p.size() || p[*i] == '-' || p[*i] == ']') return false;
  if (p[*i] == '\\') {
    ++*i;
    if (*i >= p.size()) return false;
  }
  char32_t r;
  const size_t n = DecodeRuneAt(p, *i, &r);
  if (r == kRuneError && n == 1) return false;
  *i += n;
  return *i < p.size();
}

}  // namespace

Status ValidateGlob(std::string_view p) {
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) return MakeError(Code::kInvalidArgument, std::string(kBadPattern));
      i += 2;
    } else if (c == '[') {
      ++i;
      if (i < p.size() && p[i] == '^') ++i;
      for (int members = 0;; ++members) {
        if (i < p.size() && p[i] == ']' && members > 0) {
          ++i;
          break;
        }
        if (!ScanClassMember(p, &i)) {
          return MakeError(Code::kInvalidArgument, std::string(kBadPattern));
        }
        if (p[i] == '-') {
          ++i;
          if (!ScanClassMember(p, &i)) {
            return MakeError(Code::kInvalidArgument, std::string(kBadPattern));
          }
        }
      }
    } else {
      ++i;
    }
  }
  return OkStatus();
}

std::string CleanPath(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path[0] == '/';
  const size_t n = path.size();
  std::string out;
  out.reserve(n);
  size_t r = 0;
  size_t dotdot = 0;
  if (rooted) {
    out.push_back('/');
    r = dotdot = 1;
  }
  while (r < n) {
    if (path[r] == '/') {
      ++r;
    } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
      ++r;
    } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
      r += 2;
      if (out.size() > dotdot) {
        size_t w = out.size() - 1;
        while (w > dotdot && out[w] != '/') --w;
        out.resize(w);
      } else if (!rooted) {
        if (!out.empty()) out.push_back('/');
        out += "..";
        dotdot = out.size();
      }
    } else {
      if ((rooted && out.size() != 1) || (!rooted && !out.empty())) out.push_back('/');
      for (; r < n && path[r] != '/'; ++r) out.push_back(path[r]);
    }
  }
  if (out.empty()) return ".";
  return out;
}

std::string DirPath(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return CleanPath(path.substr(0, slash + 1));
}

IgnorePattern IgnorePattern::Compile(std::string cleaned) {
  IgnorePattern p;
  p.text_ = std::move(cleaned);
  const std::vector<char32_t> runes = DecodeRunes(p.text_);
  std::string re = "^";
  IgnoreMatchType type = IgnoreMatchType::kExact;
  auto add_literal = [&p](char32_t r) {
    if (p.tokens_.empty() || p.tokens_.back().op != Op::kLiteral) {
      p.tokens_.push_back({Op::kLiteral, {}, 0});
    }
    AppendRune(&p.tokens_.back().literal, r);
  };

  size_t i = 0;
  for (int step = 0; i < runes.size(); ++step) {
    const char32_t ch = runes[i];
    if (ch == '*' && i + 1 < runes.size() && runes[i + 1] == '*') {
      i += 2;
      if (i < runes.size() && runes[i] == '/') ++i;  // "**/" is "**"
      if (i == runes.size()) {
        // A trailing "**" takes everything below, like .gitignore.
        if (type == IgnoreMatchType::kExact) {
          type = IgnoreMatchType::kPrefix;
        } else {
          re += ".*";
          p.tokens_.push_back({Op::kAnyStar, {}, 0});
          type = IgnoreMatchType::kRegexp;
        }
      } else {
        re += "(.*/)?";
        p.tokens_.push_back({Op::kOptionalDirs, {}, 0});
        type = IgnoreMatchType::kRegexp;
      }
      if (step == 0) type = IgnoreMatchType::kSuffix;
    } else if (ch == '*' || ch == '?') {
      AppendRegexRune(&re, runes, &i);
      p.tokens_.push_back({ch == '*' ? Op::kStarNotSlash : Op::kAnyNotSlash, {}, 0});
      type = IgnoreMatchType::kRegexp;
    } else if (ch == '\\') {
      if (i + 1 < runes.size()) {
        re.push_back('\\');
        AppendRune(&re, runes[i + 1]);
        add_literal(runes[i + 1]);
        i += 2;
        type = IgnoreMatchType::kRegexp;
      } else {
        re.push_back('\\');  // a trailing '\' (ValidateGlob rejects it)
        add_literal('\\');
        ++i;
      }
    } else if (ch == '[') {
      // A bracket class, already checked by ValidateGlob.
      type = IgnoreMatchType::kRegexp;
      re.push_back('[');
      ++i;
      CharClass cls;
      if (i < runes.size() && runes[i] == '^') {
        cls.negated = true;
        re.push_back('^');
        ++i;
      }
      auto member = [&]() -> char32_t {
        if (runes[i] == '\\' && i + 1 < runes.size()) {
          AppendRegexRune(&re, runes, &i);
          return runes[i - 1];
        }
        const char32_t r = runes[i];
        AppendRegexRune(&re, runes, &i);
        return r;
      };
      while (i < runes.size() && !(runes[i] == ']' && !cls.ranges.empty())) {
        const char32_t lo = member();
        char32_t hi = lo;
        if (i < runes.size() && runes[i] == '-') {
          re.push_back('-');
          ++i;
          if (i < runes.size()) hi = member();
        }
        if (hi < lo) p.bad_ = true;  // Go's regexp: "invalid character class range"
        cls.ranges.emplace_back(lo, hi);
      }
      if (i < runes.size()) {
        re.push_back(']');
        ++i;
      }
      p.tokens_.push_back({Op::kClass, {}, p.classes_.size()});
      p.classes_.push_back(std::move(cls));
    } else if (ch == ']') {
      re.push_back(']');
      ++i;
      add_literal(ch);
      type = IgnoreMatchType::kRegexp;
    } else {
      AppendRegexRune(&re, runes, &i);
      add_literal(ch);
    }
  }
  p.type_ = type;
  if (type == IgnoreMatchType::kRegexp) {
    p.regex_ = re + "$";
  } else {
    p.tokens_.clear();
    p.classes_.clear();
  }
  return p;
}

bool IgnorePattern::ClassHas(const CharClass& c, char32_t r) const {
  bool in = false;
  for (const auto& [lo, hi] : c.ranges) {
    if (lo <= r && r <= hi) {
      in = true;
      break;
    }
  }
  return in != c.negated;
}

// Match states (token, offset) already known to fail. Paths are short, so the set usually
// fits in a fixed buffer and matching a file allocates nothing.
class IgnorePattern::FailMemo {
 public:
  explicit FailMemo(size_t states) {
    if (states > kInlineBits) heap_.assign((states + 63) / 64, 0);
  }
  bool Get(size_t i) const { return (words()[i / 64] >> (i % 64)) & 1; }
  void Set(size_t i) { words()[i / 64] |= uint64_t{1} << (i % 64); }

 private:
  static constexpr size_t kInlineBits = 2048;
  const uint64_t* words() const { return heap_.empty() ? inline_ : heap_.data(); }
  uint64_t* words() { return heap_.empty() ? inline_ : heap_.data(); }

  uint64_t inline_[kInlineBits / 64] = {};
  std::vector<uint64_t> heap_;
};

bool IgnorePattern::MatchFrom(std::string_view s, size_t ti, size_t pos, FailMemo* failed) const {
  if (ti == tokens_.size()) return pos == s.size();
  const size_t state = ti * (s.size() + 1) + pos;
  if (failed->Get(state)) return false;
  const Token& t = tokens_[ti];
  bool ok = false;
  switch (t.op) {
    case Op::kLiteral:
      ok = s.substr(pos, t.literal.size()) == t.literal &&
           MatchFrom(s, ti + 1, pos + t.literal.size(), failed);
      break;
    case Op::kAnyNotSlash:
    case Op::kClass:
      if (pos < s.size()) {
        char32_t r;
        const size_t n = DecodeRuneAt(s, pos, &r);
        const bool hit = t.op == Op::kClass ? ClassHas(classes_[t.cls], r) : r != '/';
        ok = hit && MatchFrom(s, ti + 1, pos + n, failed);
      }
      break;
    case Op::kStarNotSlash:
    case Op::kAnyStar: {
      // [^/]* stops at a slash, .* at a newline (Go's `.` never matches one).
      const char stop = t.op == Op::kStarNotSlash ? '/' : '\n';
      for (size_t q = pos;;) {
        if (MatchFrom(s, ti + 1, q, failed)) {
          ok = true;
          break;
        }
        if (q >= s.size() || s[q] == stop) break;
        char32_t r;
        q += DecodeRuneAt(s, q, &r);
      }
      break;
    }
    case Op::kOptionalDirs: {
      // (.*/)? : nothing, or anything without a newline up to and including a slash.
      ok = MatchFrom(s, ti + 1, pos, failed);
      for (size_t q = pos; !ok && q < s.size() && s[q] != '\n';) {
        char32_t r;
        q += DecodeRuneAt(s, q, &r);
        ok = r == '/' && MatchFrom(s, ti + 1, q, failed);
      }
      break;
    }
  }
  if (!ok) failed->Set(state);
  return ok;
}

Result<bool> IgnorePattern::Match(std::string_view path) const {
  switch (type_) {
    case IgnoreMatchType::kExact:
      return path == text_;
    case IgnoreMatchType::kPrefix:
      return path.substr(0, text_.size() - 2) ==
             std::string_view(text_).substr(0, text_.size() - 2);
    case IgnoreMatchType::kSuffix: {
      const std::string_view suffix = std::string_view(text_).substr(2);
      if (path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix) {
        return true;
      }
      // "**/foo" also matches "foo" itself.
      return !suffix.empty() && suffix[0] == '/' && path == suffix.substr(1);
    }
    case IgnoreMatchType::kRegexp:
      break;
  }
  if (bad_) return MakeError(Code::kInvalidArgument, std::string(kBadPattern));
  // Paths are short; a failure memo keeps `*a*a*a*b`-style patterns linear in practice.
  FailMemo failed((tokens_.size() + 1) * (path.size() + 1));
  return MatchFrom(path, 0, 0, &failed);
}

}  // namespace hoist::internal
