#include "oci/reference_grammar.h"

#include <algorithm>

namespace hoist::oci::reference_grammar {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return IsLower(c) || (c >= 'A' && c <= 'Z'); }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsLowerAlnum(char c) { return IsLower(c) || IsDigit(c); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsWord(char c) { return IsAlnum(c) || c == '_'; }  // Go's \w is ASCII only
bool IsTagChar(char c) { return IsWord(c) || c == '.' || c == '-'; }
bool IsRemoteNameChar(char c) {
  return IsLowerAlnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
}

bool AllOf(std::string_view s, bool (*pred)(char)) { return std::all_of(s.begin(), s.end(), pred); }

// A label of a host name: alphanumerics and inner dashes.
bool MatchDomainComponent(std::string_view s) {
  return !s.empty() && IsAlnum(s.front()) && IsAlnum(s.back()) &&
         AllOf(s, [](char c) { return IsAlnum(c) || c == '-'; });
}

bool MatchDomainName(std::string_view s) {
  while (true) {
    size_t dot = s.find('.');
    if (!MatchDomainComponent(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

bool MatchPort(std::string_view s) { return !s.empty() && AllOf(s, IsDigit); }

// `[a-z0-9]+ (separator [a-z0-9]+)*` where a separator is `.`, `_`, `__` or a run of `-`.
bool MatchPathComponent(std::string_view s) {
  size_t i = 0;
  while (true) {
    size_t start = i;
    while (i < s.size() && IsLowerAlnum(s[i])) ++i;
    if (i == start) return false;  // empty, or a separator at the start or doubled up
    if (i == s.size()) return true;
    start = i;
    while (i < s.size() && !IsLowerAlnum(s[i])) ++i;
    std::string_view sep = s.substr(start, i - start);
    bool ok = sep == "." || sep == "_" || sep == "__" || AllOf(sep, [](char c) { return c == '-'; });
    if (!ok) return false;
  }
}

// What may follow a name: `[:tag][@digest]` and nothing else.
bool MatchSuffix(std::string_view s, std::string_view* tag, std::string_view* digest) {
  *tag = {};
  *digest = {};
  if (!s.empty() && s.front() == ':') {
    size_t end = 1;
    while (end < s.size() && IsTagChar(s[end])) ++end;
    *tag = s.substr(1, end - 1);
    if (!MatchTag(*tag)) return false;
    s.remove_prefix(end);
  }
  if (!s.empty() && s.front() == '@') {
    *digest = s.substr(1);
    return MatchDigest(*digest);
  }
  return s.empty();
}

}  // namespace

bool MatchDomain(std::string_view s) {
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    std::string_view inner = s.substr(1, close - 1);
    if (inner.empty() || !AllOf(inner, [](char c) { return IsHex(c) || c == ':'; })) return false;
    std::string_view rest = s.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    return MatchPort(rest.substr(1));
  }
  size_t colon = s.find(':');
  if (colon != std::string_view::npos) {
    has_port = true;
    port = s.substr(colon + 1);
  }
  return MatchDomainName(s.substr(0, colon)) && (!has_port || MatchPort(port));
}

bool MatchRemoteName(std::string_view s) {
  while (true) {
    size_t slash = s.find('/');
    if (!MatchPathComponent(s.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    s.remove_prefix(slash + 1);
  }
}

bool MatchTag(std::string_view s) {
  return !s.empty() && s.size() <= 128 && IsWord(s.front()) && AllOf(s, IsTagChar);
}

bool MatchDigest(std::string_view s) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view algorithm = s.substr(0, colon);
  std::string_view hex = s.substr(colon + 1);
  if (hex.size() < 32 || !AllOf(hex, IsHex)) return false;
  // Components `[A-Za-z][A-Za-z0-9]*` joined by single `-_+.`.
  size_t i = 0;
  while (true) {
    if (i >= algorithm.size() || !IsAlpha(algorithm[i])) return false;
    ++i;
    while (i < algorithm.size() && IsAlnum(algorithm[i])) ++i;
    if (i == algorithm.size()) return true;
    char sep = algorithm[i];
    if (sep != '-' && sep != '_' && sep != '+' && sep != '.') return false;
    ++i;
  }
}

bool MatchIdentifier(std::string_view s) {
  return s.size() == 64 && AllOf(s, [](char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); });
}

std::optional<NameMatch> MatchName(std::string_view s) {
  // A domain cannot hold a `/`, so if there is one it ends at the first slash; the regexp
  // prefers that reading and falls back to a name without a domain.
  size_t slash = s.find('/');
  if (slash != std::string_view::npos && MatchDomain(s.substr(0, slash)) &&
      MatchRemoteName(s.substr(slash + 1))) {
    return NameMatch{s.substr(0, slash), s.substr(slash + 1)};
  }
  if (MatchRemoteName(s)) return NameMatch{{}, s};
  return std::nullopt;
}

std::optional<ReferenceMatch> MatchReference(std::string_view s) {
  // The remote name runs as far as its characters go: what follows must be `:`, `@` or the
  // end, none of which it contains, so no shorter run could match.
  auto match_from = [&](size_t remote_start) -> std::optional<ReferenceMatch> {
    size_t end = remote_start;
    while (end < s.size() && IsRemoteNameChar(s[end])) ++end;
    if (!MatchRemoteName(s.substr(remote_start, end - remote_start))) return std::nullopt;
    ReferenceMatch m;
    m.name = s.substr(0, end);
    if (!MatchSuffix(s.substr(end), &m.tag, &m.digest)) return std::nullopt;
    return m;
  };
  size_t slash = s.find('/');
  if (slash != std::string_view::npos && MatchDomain(s.substr(0, slash))) {
    if (std::optional<ReferenceMatch> m = match_from(slash + 1)) return m;
  }
  return match_from(0);
}

}  // namespace hoist::oci::reference_grammar
