// Shell word expansion for Dockerfile instructions, with BuildKit's rules
// (frontend/dockerfile/shell): quoting, escapes with the Dockerfile's escape token, `$v`,
// `${v}` and the modifiers `:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/` `//`, word
// splitting after expansion, and a record of which variables were looked up (for lint).
//
// Differences from upstream, on purpose:
//  - A `${...}` nested inside a word no longer erases the words collected before it in
//    ProcessWords (upstream shares one buffer between nesting levels, so
//    `80${P:-/tcp}` split to ["/tcp"]); we return ["80/tcp"], as ProcessWord's text says.
//  - `${name` cut off by the end of input reports "syntax error: missing '}'" rather than an
//    "unsupported modifier" naming U+FFFD.
//
// Thread-safety: ShellLex is immutable after construction and its methods are const, so one
// instance may expand words on many threads. Environments are read only.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/error.h"

namespace hoist::frontend::dockerfile {

// Where ShellLex looks variables up. Implementations decide name case rules.
class ShellEnv {
 public:
  virtual ~ShellEnv() = default;
  // The value of `name`, or nullopt when it is unset (set-but-empty is "").
  virtual std::optional<std::string_view> Get(std::string_view name) const = 0;
};

// How variable names compare: Linux-platform builds are case-sensitive; Windows-platform
// builds (BuildKit's equal_env_windows.go) compare names case-insensitively.
enum class EnvNameCase { kSensitive, kInsensitive };

// An environment from an ordered list of "KEY=VALUE" entries; a later entry for the same key
// wins, and an entry without '=' sets KEY to "". Owns copies of the strings.
class ShellEnvList : public ShellEnv {
 public:
  explicit ShellEnvList(const std::vector<std::string>& entries,
                        EnvNameCase name_case = EnvNameCase::kSensitive);

  std::optional<std::string_view> Get(std::string_view name) const override;
  // The keys in list order, duplicates included, as written.
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  std::string Normalize(std::string_view name) const;

  EnvNameCase name_case_;
  std::vector<std::string> keys_;
  std::unordered_map<std::string, std::string> values_;
};

struct ShellLexOptions {
  // The Dockerfile's escape token: '\\' by default, '`' with `# escape=``.
  char32_t escape_token = '\\';
  // Keep the quote characters in the output (quotes still group, $ still expands inside "").
  bool raw_quotes = false;
  // Keep escape tokens in the output.
  bool raw_escapes = false;
  // Treat ' and " as ordinary characters.
  bool skip_process_quotes = false;
  // Leave references to unset variables as written ("$x", "${x:-y}") instead of expanding
  // them to "", for a first pass where not every variable is known yet.
  bool skip_unset_env = false;
};

struct ShellWordResult {
  // The expanded text, spaces kept.
  std::string result;
  // The expanded text split into words at unquoted, unescaped white space that did not come
  // from quotes; expansions are split too unless they were inside double quotes.
  std::vector<std::string> words;
  // Names that were looked up and found / not found in the environment.
  std::set<std::string> matched;
  std::set<std::string> unmatched;
};

class ShellLex {
 public:
  explicit ShellLex(ShellLexOptions options = {}) : options_(options) {}

  // Expands `word`; errors (kInvalidArgument) read `failed to process "<word>": <reason>`,
  // the reason worded as BuildKit's (`syntax error: missing '}'`, `syntax error: bad
  // substitution`, `FOO: is not allowed to be unset`, `FOO: <message>` for ${FOO:?message},
  // `unsupported modifier (:=) in substitution`, `unexpected end of statement while looking for
  // matching double-quote`, ...).
  Result<ShellWordResult> Process(std::string_view word, const ShellEnv& env) const;

  // The expanded text only.
  Result<std::string> ProcessWord(std::string_view word, const ShellEnv& env) const;
  // The expanded words only.
  Result<std::vector<std::string>> ProcessWords(std::string_view word, const ShellEnv& env) const;

  const ShellLexOptions& options() const { return options_; }

 private:
  ShellLexOptions options_;
};

}  // namespace hoist::frontend::dockerfile
