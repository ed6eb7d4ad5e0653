// The slice of BuildKit's shell lexer that heredoc detection relies on: word splitting with
// quote, escape, `$var` and `<<` handling, with an empty environment whose unset variables are
// kept verbatim (SkipUnsetEnv). Heredoc names are lexed with `\` as escape whatever the
// Dockerfile's escape directive says, as BuildKit does. The full lexer with expansion lives
// in shell_lex.h; this one exists so that the parser reproduces BuildKit's heredoc verdicts,
// including its quirks, without depending on expansion.
//
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::frontend::dockerfile::internal {

struct HeredocLexOptions {
  bool raw_quotes = false;   // keep quote characters in the words
  bool raw_escapes = false;  // keep escape characters in the words
};

// Splits `word` into shell words. The error message matches BuildKit's
// (`failed to process "<word>": ...`).
Result<std::vector<std::string>> LexHeredocWords(std::string_view word, HeredocLexOptions options);

}  // namespace hoist::frontend::dockerfile::internal
