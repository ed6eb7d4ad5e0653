#include "oci/reference.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "oci/reference_grammar.h"

namespace hoist::oci {

namespace grammar = reference_grammar;

// Builds references from parts the parsers have already checked.
struct ReferenceAccess {
  static Reference Make(std::string domain, std::string path, std::string tag,
                        std::optional<Digest> digest) {
    Reference r;
    r.domain_ = std::move(domain);
    r.path_ = std::move(path);
    r.tag_ = std::move(tag);
    r.digest_ = std::move(digest);
    return r;
  }
};

namespace {

constexpr std::string_view kInvalidFormat = "invalid reference format";
constexpr std::string_view kNameEmpty = "repository name must have at least one component";
constexpr std::string_view kNameUppercase = "repository name must be lowercase";
constexpr std::string_view kNameNotCanonical = "repository name must be canonical";
constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
constexpr std::string_view kLocalhost = "localhost";

std::string NameTooLong() {
  return fmt::format("repository name must not be more than {} characters",
                     kMaxRepositoryPathLength);
}

tl::unexpected<Error> RefError(std::string_view input, std::string_view reason) {
  return MakeError(Code::kInvalidArgument,
                   fmt::format("invalid reference \"{}\": {}", input, reason));
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Splits a familiar or full name into domain and the rest, as Docker does: the first element
// is a domain only if it is `localhost` or looks like a host (a `.` or `:`, or capitals, which
// a path may not have); otherwise the name is on Docker Hub, and single names are official
// images under `library/`.
std::pair<std::string, std::string> SplitDockerDomain(std::string_view name) {
  size_t slash = name.find('/');
  if (slash == std::string_view::npos) {
    return {std::string(kDefaultDomain), std::string(kOfficialRepoPrefix) + std::string(name)};
  }
  std::string_view first = name.substr(0, slash);
  std::string_view rest = name.substr(slash + 1);
  std::string domain;
  std::string remote;
  if (first == kLocalhost) {
    domain = first;
    remote = rest;
  } else if (first == kLegacyDefaultDomain) {
    domain = kDefaultDomain;
    remote = rest;
  } else if (first.find_first_of(".:") != std::string_view::npos || ToLower(first) != first) {
    domain = first;
    remote = rest;
  } else {
    domain = kDefaultDomain;
    remote = name;
  }
  if (domain == kDefaultDomain && remote.find('/') == std::string::npos) {
    remote = std::string(kOfficialRepoPrefix) + remote;
  }
  return {std::move(domain), std::move(remote)};
}

// The familiar form of a name: Docker Hub's domain goes, and so does `library/` when a single
// path component follows it.
std::pair<std::string, std::string> FamiliarizeName(const Reference& ref) {
  std::string domain = ref.domain();
  std::string path = ref.path();
  if (domain == kDefaultDomain) {
    domain.clear();
    if (path.starts_with(kOfficialRepoPrefix)) {
      std::string rest = path.substr(kOfficialRepoPrefix.size());
      if (rest.find('/') == std::string::npos) path = std::move(rest);
    }
  }
  return {std::move(domain), std::move(path)};
}

Reference Familiar(const Reference& ref) {
  if (!ref.has_name()) return ref;
  auto [domain, path] = FamiliarizeName(ref);
  return ReferenceAccess::Make(std::move(domain), std::move(path), ref.tag(), ref.digest());
}

// --- Go's path.Match, which FamiliarMatch promises ---

struct BadPattern {};

// One `[...]` class item or escaped character: returns false on a malformed pattern.
bool ClassChar(std::string_view& chunk, unsigned char* out) {
  if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') return false;
  if (chunk[0] == '\\') {
    chunk.remove_prefix(1);
    if (chunk.empty()) return false;
  }
  *out = static_cast<unsigned char>(chunk[0]);
  chunk.remove_prefix(1);
  return !chunk.empty();  // a class must still be closed
}

// Matches one star-free chunk at the start of `s`. On success, `rest` is what is left of s.
// A malformed chunk is reported even when the match already failed.
enum class ChunkResult { kMatch, kNoMatch, kBadPattern };
ChunkResult MatchChunk(std::string_view chunk, std::string_view s, std::string_view* rest) {
  bool failed = false;
  while (!chunk.empty()) {
    if (!failed && s.empty()) failed = true;
    char c = chunk[0];
    if (c == '[') {
      unsigned char ch = 0;
      if (!failed) {
        ch = static_cast<unsigned char>(s[0]);
        s.remove_prefix(1);
      }
      chunk.remove_prefix(1);
      bool negated = !chunk.empty() && chunk[0] == '^';
      if (negated) chunk.remove_prefix(1);
      bool matched = false;
      int ranges = 0;
      while (true) {
        if (!chunk.empty() && chunk[0] == ']' && ranges > 0) {
          chunk.remove_prefix(1);
          break;
        }
        unsigned char lo = 0;
        if (!ClassChar(chunk, &lo)) return ChunkResult::kBadPattern;
        unsigned char hi = lo;
        if (chunk[0] == '-') {
          chunk.remove_prefix(1);
          if (!ClassChar(chunk, &hi)) return ChunkResult::kBadPattern;
        }
        if (lo <= ch && ch <= hi) matched = true;
        ++ranges;
      }
      if (matched == negated) failed = true;
    } else if (c == '?') {
      if (!failed) {
        if (s[0] == '/') failed = true;
        s.remove_prefix(1);
      }
      chunk.remove_prefix(1);
    } else {
      if (c == '\\') {
        chunk.remove_prefix(1);
        if (chunk.empty()) return ChunkResult::kBadPattern;
      }
      if (!failed) {
        if (chunk[0] != s[0]) failed = true;
        s.remove_prefix(1);
      }
      chunk.remove_prefix(1);
    }
  }
  if (failed) return ChunkResult::kNoMatch;
  *rest = s;
  return ChunkResult::kMatch;
}

// Splits off leading stars and the chunk up to the next star outside a class.
void ScanChunk(std::string_view& pattern, bool* star, std::string_view* chunk) {
  *star = false;
  while (!pattern.empty() && pattern[0] == '*') {
    pattern.remove_prefix(1);
    *star = true;
  }
  bool in_class = false;
  size_t i = 0;
  for (; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\') {
      if (i + 1 < pattern.size()) ++i;
    } else if (c == '[') {
      in_class = true;
    } else if (c == ']') {
      in_class = false;
    } else if (c == '*' && !in_class) {
      break;
    }
  }
  *chunk = pattern.substr(0, i);
  pattern.remove_prefix(i);
}

Result<bool> PathMatch(std::string_view pattern, std::string_view name) {
  auto bad = [&] {
    return MakeError(Code::kInvalidArgument, fmt::format("syntax error in pattern \"{}\"", pattern));
  };
  std::string_view p = pattern;
  while (!p.empty()) {
    bool star = false;
    std::string_view chunk;
    ScanChunk(p, &star, &chunk);
    if (star && chunk.empty()) return name.find('/') == std::string_view::npos;
    std::string_view rest;
    ChunkResult r = MatchChunk(chunk, name, &rest);
    // The last chunk must use up the name; an earlier one may leave some for a later star.
    if (r == ChunkResult::kMatch && (rest.empty() || !p.empty())) {
      name = rest;
      continue;
    }
    if (r == ChunkResult::kBadPattern) return bad();
    bool advanced = false;
    if (star) {
      // A star spans anything but a slash: retry the chunk further on.
      for (size_t i = 0; i < name.size() && name[i] != '/'; ++i) {
        r = MatchChunk(chunk, name.substr(i + 1), &rest);
        if (r == ChunkResult::kMatch) {
          if (p.empty() && !rest.empty()) continue;
          name = rest;
          advanced = true;
          break;
        }
        if (r == ChunkResult::kBadPattern) return bad();
      }
    }
    if (advanced) continue;
    // No match; still report a malformed remainder of the pattern.
    while (!p.empty()) {
      ScanChunk(p, &star, &chunk);
      if (MatchChunk(chunk, "", &rest) == ChunkResult::kBadPattern) return bad();
    }
    return false;
  }
  return name.empty();
}

int Rank(const Reference& r) {
  if (!r.has_name()) return 5;
  if (r.has_tag()) return r.has_digest() ? 1 : 2;
  return r.has_digest() ? 3 : 4;
}

}  // namespace

std::string Reference::Name() const {
  if (domain_.empty()) return path_;
  return domain_ + "/" + path_;
}

std::string Reference::String() const {
  if (!has_name()) return digest_ ? digest_->str() : std::string();
  std::string out = Name();
  if (!tag_.empty()) out += ":" + tag_;
  if (digest_) out += "@" + digest_->str();
  return out;
}

namespace {

// Parses `s` strictly; errors name `shown`, the input as the user wrote it.
Result<Reference> ParseStrict(std::string_view s, std::string_view shown) {
  if (s.empty()) return RefError(shown, kNameEmpty);
  std::optional<grammar::ReferenceMatch> m = grammar::MatchReference(s);
  if (!m) {
    // If only capitals spoil it, say so: it is the common mistake.
    if (std::string lower = ToLower(s); lower != s && grammar::MatchReference(lower)) {
      return RefError(shown, kNameUppercase);
    }
    return RefError(shown, kInvalidFormat);
  }
  std::optional<grammar::NameMatch> name = grammar::MatchName(m->name);
  if (!name) return RefError(shown, kInvalidFormat);  // unreachable: the name matched above
  if (name->remote_name.size() > kMaxRepositoryPathLength) return RefError(shown, NameTooLong());
  std::optional<Digest> digest;
  if (!m->digest.empty()) {
    Result<Digest> d = Digest::Parse(m->digest);
    if (!d) {
      return Unexpected(std::move(d).error().Wrap(fmt::format("invalid reference \"{}\"", shown)));
    }
    digest = *std::move(d);
  }
  return ReferenceAccess::Make(std::string(name->domain), std::string(name->remote_name),
                               std::string(m->tag), std::move(digest));
}

}  // namespace

Result<Reference> ParseReference(std::string_view s) { return ParseStrict(s, s); }

Result<Reference> ParseNormalizedNamed(std::string_view s) {
  if (grammar::MatchIdentifier(s)) {
    return RefError(s, "a repository name cannot be 64 hexadecimal digits, which read as an "
                       "image ID");
  }
  auto [domain, remainder] = SplitDockerDomain(s);
  std::string_view remote = std::string_view(remainder).substr(0, remainder.find(':'));
  if (ToLower(remote) != remote) return RefError(s, kNameUppercase);
  return ParseStrict(domain + "/" + remainder, s);
}

Result<Reference> ParseNamed(std::string_view s) {
  HOIST_ASSIGN_OR_RETURN(Reference ref, ParseNormalizedNamed(s));
  if (ref.String() != s) return RefError(s, kNameNotCanonical);
  return ref;
}

Result<Reference> ParseAnyReference(std::string_view s) {
  if (grammar::MatchIdentifier(s)) {
    return ReferenceAccess::Make("", "", "", Digest::FromSha256Hex(s));
  }
  if (Result<Digest> d = Digest::Parse(s)) return ReferenceAccess::Make("", "", "", *std::move(d));
  return ParseNormalizedNamed(s);
}

Result<Reference> ParseDockerRef(std::string_view s) {
  HOIST_ASSIGN_OR_RETURN(Reference ref, ParseNormalizedNamed(s));
  if (ref.has_tag() && ref.has_digest()) {
    return ReferenceAccess::Make(ref.domain(), ref.path(), "", ref.digest());
  }
  return TagNameOnly(ref);
}

Result<Reference> WithName(std::string_view name) {
  std::optional<grammar::NameMatch> m = grammar::MatchName(name);
  if (!m) return RefError(name, kInvalidFormat);
  if (m->remote_name.size() > kMaxRepositoryPathLength) return RefError(name, NameTooLong());
  return ReferenceAccess::Make(std::string(m->domain), std::string(m->remote_name), "",
                               std::nullopt);
}

Result<Reference> WithTag(const Reference& named, std::string_view tag) {
  if (!grammar::MatchTag(tag)) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid tag \"{}\": invalid tag format", tag));
  }
  if (!named.has_name()) return RefError(named.String(), "a digest-only reference cannot take a tag");
  return ReferenceAccess::Make(named.domain(), named.path(), std::string(tag), named.digest());
}

Result<Reference> WithDigest(const Reference& named, const Digest& digest) {
  if (!digest.valid()) return MakeError(Code::kInvalidArgument, "invalid digest format: empty digest");
  if (!named.has_name()) {
    return RefError(named.String(), "a digest-only reference cannot take another digest");
  }
  return ReferenceAccess::Make(named.domain(), named.path(), named.tag(), digest);
}

Reference TrimNamed(const Reference& ref) {
  return ReferenceAccess::Make(ref.domain(), ref.path(), "", std::nullopt);
}

Reference TagNameOnly(const Reference& ref) {
  if (!ref.IsNameOnly()) return ref;
  return ReferenceAccess::Make(ref.domain(), ref.path(), std::string(kDefaultTag), std::nullopt);
}

std::string FamiliarName(const Reference& ref) { return Familiar(ref).Name(); }

std::string FamiliarString(const Reference& ref) { return Familiar(ref).String(); }

Result<bool> FamiliarMatch(std::string_view pattern, const Reference& ref) {
  HOIST_ASSIGN_OR_RETURN(bool matched, PathMatch(pattern, FamiliarString(ref)));
  if (!matched && ref.has_name()) {
    Result<bool> by_name = PathMatch(pattern, FamiliarName(ref));
    matched = by_name && *by_name;
  }
  return matched;
}

std::vector<std::string> SortReferences(const std::vector<std::string>& refs) {
  std::vector<Reference> parsed;
  std::vector<std::string> bad;
  for (const std::string& s : refs) {
    if (Result<Reference> r = ParseAnyReference(s)) {
      parsed.push_back(*std::move(r));
    } else {
      bad.push_back(s);
    }
  }
  std::vector<std::pair<int, std::string>> keyed;
  keyed.reserve(parsed.size());
  for (const Reference& r : parsed) keyed.emplace_back(Rank(r), r.String());
  std::sort(keyed.begin(), keyed.end());
  std::sort(bad.begin(), bad.end());
  std::vector<std::string> out;
  out.reserve(refs.size());
  for (auto& [rank, s] : keyed) out.push_back(std::move(s));
  for (std::string& s : bad) out.push_back(std::move(s));
  return out;
}

}  // namespace hoist::oci
