// The wildcard patterns of ${v#p}, ${v%p} and ${v/p/r}: `*` any run of characters, `?` one
// character, `\*` `\?` `\\` literal, everything else (brackets included) literal. BuildKit
// converts such a pattern into a Go regular expression; ShellPattern matches the same strings
// with the same leftmost-first preference without a regex engine, and can still render that
// regular expression so tests can compare it with upstream's.
//
// Thread-safety: immutable after Compile; Find/ReplaceAll may run concurrently.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace hoist::frontend::dockerfile::internal {

class ShellPattern {
 public:
  // greedy: `*` prefers the longest run (else the shortest). anchored: matches only at offset 0.
  // Errors (kInvalidArgument): "invalid escape '\x'" for an escape other than \* \? \\ (a `\`
  // before `}` or `/` is dropped: it only kept the character from closing the ${}).
  static Result<ShellPattern> Compile(std::string_view pattern, bool greedy, bool anchored);

  // The leftmost match at or after byte offset `from` as [begin, end) byte offsets; among
  // matches at the same start, the one a backtracking matcher honouring greedy/lazy stars
  // finds first (Go regexp's leftmost-first semantics).
  std::optional<std::pair<size_t, size_t>> Find(std::string_view text, size_t from = 0) const;

  // Go's Regexp.ReplaceAllString: every non-overlapping match is replaced, and the
  // replacement's `$0`/`${0}` expands to the match, `$$` to `$`, other `$name` to nothing.
  std::string ReplaceAll(std::string_view text, std::string_view replacement) const;

  // The regular expression BuildKit would compile for this pattern (tests only).
  const std::string& regex() const { return regex_; }

 private:
  enum class Kind { kRune, kAnyRune, kStar };
  struct Token {
    Kind kind;
    char32_t rune;
  };

  // Returns the end offset of the first match found from token `ti` at byte `pos`; records
  // states known to fail in `failed`, which stays valid across start offsets.
  std::optional<size_t> MatchFrom(std::string_view text, size_t ti, size_t pos,
                                  std::vector<bool>* failed) const;

  std::vector<Token> tokens_;
  bool greedy_ = true;
  bool anchored_ = false;
  std::string regex_;
};

// Reverses a pattern rune by rune but keeps each `\x` escape in front of its character, so
// that a suffix match can run as a prefix match on reversed text ("a\*c" -> "c\*a").
std::string ReverseShellPattern(std::string_view pattern);

// Reverses a string rune by rune (invalid bytes count as one rune each and become U+FFFD).
std::string ReverseRunes(std::string_view s);

}  // namespace hoist::frontend::dockerfile::internal
