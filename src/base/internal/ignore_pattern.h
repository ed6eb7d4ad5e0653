// One compiled .dockerignore pattern with moby/patternmatcher's semantics. Upstream turns each
// pattern into a Go regexp (`*` -> `[^/]*`, `?` -> `[^/]`, `**` -> `(.*/)?` or `.*`, brackets
// passed through) unless it is a plain string, a `prefix**` or a `**suffix`; we classify the
// same way and run the regexp cases on a small token program, since this runs for every file
// of a build context. regex() still renders upstream's regexp for tests.
//
// Known differences, all in patterns no one writes: `*` or `?` inside brackets stay literal
// members of the set (upstream's regexp text becomes a different, odd set), and an escaped
// letter (`\d`) is that letter, as filepath.Match documents, not a regexp class.
//
// Thread-safety: immutable after Compile.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::internal {

enum class IgnoreMatchType { kExact, kPrefix, kSuffix, kRegexp };

class IgnorePattern {
 public:
  // REQUIRES: `cleaned` went through CleanPath, has no leading '!' and passed ValidateGlob.
  static IgnorePattern Compile(std::string cleaned);

  // Whether `path` (slash-separated) matches the whole pattern. Fails with upstream's
  // "syntax error in pattern" when the pattern has a reversed range such as [z-a], which
  // filepath.Match accepts but Go's regexp rejects, at every call as upstream does.
  Result<bool> Match(std::string_view path) const;

  IgnoreMatchType type() const { return type_; }
  const std::string& text() const { return text_; }
  // Upstream's regexp for kRegexp patterns, else "".
  const std::string& regex() const { return regex_; }

 private:
  enum class Op { kLiteral, kAnyNotSlash, kStarNotSlash, kOptionalDirs, kAnyStar, kClass };
  struct Token {
    Op op;
    std::string literal;  // kLiteral
    size_t cls = 0;       // kClass: index into classes_
  };
  struct CharClass {
    bool negated = false;
    std::vector<std::pair<char32_t, char32_t>> ranges;
  };

  class FailMemo;
  bool MatchFrom(std::string_view s, size_t ti, size_t pos, FailMemo* failed) const;
  bool ClassHas(const CharClass& c, char32_t r) const;

  std::string text_;
  IgnoreMatchType type_ = IgnoreMatchType::kExact;
  std::string regex_;
  std::vector<Token> tokens_;
  std::vector<CharClass> classes_;
  bool bad_ = false;
};

// filepath.Match's syntax check (Unix): a `\` must escape something; a `[` class needs at
// least one member, members are a char or `\`char, optionally `lo-hi`, and a closing `]`.
// Error text "syntax error in pattern", as Go's ErrBadPattern.
Status ValidateGlob(std::string_view pattern);

// Go's path/filepath.Clean on Unix: one slash between elements, no `.` elements, `..`
// collapsed where it can be, "" -> ".".
std::string CleanPath(std::string_view path);
// Go's filepath.Dir: everything before the last slash, cleaned ("file" -> ".").
std::string DirPath(std::string_view path);

}  // namespace hoist::internal
