#include "frontend/dockerfile/internal/shell_pattern.h"

#include <algorithm>

#include "frontend/dockerfile/internal/parser_go_text.h"

namespace hoist::frontend::dockerfile::internal {
namespace {

// Characters that BuildKit escapes when it writes a pattern's literal into a regexp.
bool IsRegexMeta(char32_t r) {
  switch (r) {
    case '[':
    case ']':
    case '{':
    case '}':
    case '.':
    case '+':
    case '(':
    case ')':
    case '|':
    case '^':
    case '$':
      return true;
    default:
      return false;
  }
}

std::string FromRunes(const std::vector<char32_t>& runes) {
  std::string out;
  out.reserve(runes.size());
  for (char32_t r : runes) AppendRune(&out, r);
  return out;
}

// Go's regexp template expansion for a pattern without groups: only group 0 (the match)
// exists, so `$0`, `${0}` give the match, `$$` a dollar, and any other well-formed name
// nothing; a malformed reference stays literal.
void Expand(std::string* out, std::string_view tmpl, std::string_view match) {
  while (!tmpl.empty()) {
    const size_t dollar = tmpl.find('$');
    if (dollar == std::string_view::npos) break;
    out->append(tmpl.substr(0, dollar));
    tmpl.remove_prefix(dollar + 1);
    if (!tmpl.empty() && tmpl[0] == '$') {
      out->push_back('$');
      tmpl.remove_prefix(1);
      continue;
    }
    std::string_view rest = tmpl;
    const bool brace = !rest.empty() && rest[0] == '{';
    if (brace) rest.remove_prefix(1);
    size_t i = 0;
    while (i < rest.size()) {
      char32_t r;
      const size_t n = DecodeRuneAt(rest, i, &r);
      if (!IsLetter(r) && !IsDigit(r) && r != '_') break;
      i += n;
    }
    if (i == 0 || (brace && (i >= rest.size() || rest[i] != '}'))) {
      out->push_back('$');
      continue;
    }
    const std::string_view name = rest.substr(0, i);
    if (brace) ++i;
    tmpl = rest.substr(i);
    if (name == "0") out->append(match);
  }
  out->append(tmpl);
}

}  // namespace

Result<ShellPattern> ShellPattern::Compile(std::string_view pattern, bool greedy, bool anchored) {
  ShellPattern p;
  p.greedy_ = greedy;
  p.anchored_ = anchored;
  if (anchored) p.regex_.push_back('^');
  const std::vector<char32_t> runes = DecodeRunes(pattern);
  for (size_t i = 0; i < runes.size(); ++i) {
    char32_t r = runes[i];
    if (r == '*') {
      p.tokens_.push_back({Kind::kStar, 0});
      p.regex_ += greedy ? ".*" : ".*?";
      continue;
    }
    if (r == '?') {
      p.tokens_.push_back({Kind::kAnyRune, 0});
      p.regex_.push_back('.');
      continue;
    }
    if (r == '\\') {
      const bool has_next = i + 1 < runes.size();
      if (has_next && (runes[i + 1] == '}' || runes[i + 1] == '/')) continue;
      std::string shown;
      if (has_next)
        AppendRune(&shown, runes[i + 1]);
      else
        AppendRune(&shown, kRuneError);  // Go prints the end-of-input rune this way
      if (!has_next || (runes[i + 1] != '*' && runes[i + 1] != '?' && runes[i + 1] != '\\')) {
        return MakeError(Code::kInvalidArgument, "invalid escape '\\" + shown + "'");
      }
      r = runes[++i];
      p.regex_.push_back('\\');
    } else if (IsRegexMeta(r)) {
      p.regex_.push_back('\\');
    }
    p.tokens_.push_back({Kind::kRune, r});
    AppendRune(&p.regex_, r);
  }
  return p;
}

std::optional<size_t> ShellPattern::MatchFrom(std::string_view text, size_t ti, size_t pos,
                                              std::vector<bool>* failed) const {
  if (ti == tokens_.size()) return pos;
  const size_t state = ti * (text.size() + 1) + pos;
  if ((*failed)[state]) return std::nullopt;
  const Token& t = tokens_[ti];
  std::optional<size_t> end;
  if (t.kind == Kind::kStar) {
    // `.` never matches a newline in Go's regexp, so a star stops at one.
    size_t limit = pos;
    while (limit < text.size() && text[limit] != '\n') {
      char32_t r;
      limit += DecodeRuneAt(text, limit, &r);
    }
    if (greedy_) {
      // Try the longest run first, stepping back one rune at a time.
      size_t cur = limit;
      while (true) {
        end = MatchFrom(text, ti + 1, cur, failed);
        if (end || cur == pos) break;
        // Step back to the previous rune boundary: re-decode from pos (runs are short).
        size_t prev = pos;
        for (size_t q = pos; q < cur;) {
          prev = q;
          char32_t r;
          q += DecodeRuneAt(text, q, &r);
        }
        cur = prev;
      }
    } else {
      size_t cur = pos;
      while (true) {
        end = MatchFrom(text, ti + 1, cur, failed);
        if (end || cur >= limit) break;
        char32_t r;
        cur += DecodeRuneAt(text, cur, &r);
      }
    }
  } else if (pos < text.size()) {
    char32_t r;
    const size_t n = DecodeRuneAt(text, pos, &r);
    const bool ok = t.kind == Kind::kAnyRune ? r != '\n' : r == t.rune;
    if (ok) end = MatchFrom(text, ti + 1, pos + n, failed);
  }
  if (!end) (*failed)[state] = true;
  return end;
}

std::optional<std::pair<size_t, size_t>> ShellPattern::Find(std::string_view text,
                                                            size_t from) const {
  std::vector<bool> failed((tokens_.size() + 1) * (text.size() + 1), false);
  size_t start = from;
  while (start <= text.size()) {
    if (std::optional<size_t> end = MatchFrom(text, 0, start, &failed)) {
      return std::make_pair(start, *end);
    }
    if (anchored_ || start == text.size()) break;
    char32_t r;
    start += DecodeRuneAt(text, start, &r);
  }
  return std::nullopt;
}

std::string ShellPattern::ReplaceAll(std::string_view text, std::string_view replacement) const {
  // Mirrors Go's replaceAll loop, including how it steps past empty matches.
  std::string out;
  size_t last_end = 0;
  size_t search = 0;
  while (search <= text.size()) {
    std::optional<std::pair<size_t, size_t>> m = Find(text, search);
    if (!m) break;
    out.append(text.substr(last_end, m->first - last_end));
    if (m->second > last_end || m->first == 0) {
      Expand(&out, replacement, text.substr(m->first, m->second - m->first));
    }
    last_end = m->second;
    size_t width = 0;
    if (search < text.size()) {
      char32_t r;
      width = DecodeRuneAt(text, search, &r);
    }
    if (search + width > m->second) {
      search += width;
    } else if (search + 1 > m->second) {
      ++search;
    } else {
      search = m->second;
    }
  }
  out.append(text.substr(std::min(last_end, text.size())));
  return out;
}

std::string ReverseShellPattern(std::string_view pattern) {
  const std::vector<char32_t> in = DecodeRunes(pattern);
  std::vector<char32_t> out(in.size());
  const size_t n = in.size();
  for (size_t i = 0; i < n;) {
    const size_t o = n - 1 - i;
    if (in[i] == '\\' && i + 1 < n) {
      out[o - 1] = in[i];
      out[o] = in[i + 1];
      i += 2;
    } else {
      out[o] = in[i];
      ++i;
    }
  }
  return FromRunes(out);
}

std::string ReverseRunes(std::string_view s) {
  std::vector<char32_t> runes = DecodeRunes(s);
  std::reverse(runes.begin(), runes.end());
  return FromRunes(runes);
}

}  // namespace hoist::frontend::dockerfile::internal
