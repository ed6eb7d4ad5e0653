// The Dockerfile parser: text to AST, the first stage of the frontend (parse → instructions →
// convert). It reproduces BuildKit's frontend/dockerfile/parser: the same parser directives,
// comment and line-continuation rules, the same argument shape per instruction (exec form vs
// shell form, ENV/LABEL pairs, ONBUILD sub-commands, HEALTHCHECK), builder flags, heredocs,
// line numbers and warnings, and the same `Dump` text, so its output can be compared with
// BuildKit's own test corpora. Words are not expanded here (see shell_lex.h).
//
// Thread-safety: pure functions over values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist::frontend::dockerfile {

inline constexpr char kDefaultEscapeToken = '\\';
// The longest line accepted, in bytes without its newline (BuildKit reads lines with Go's
// bufio.Scanner, whose token limit is 64 KiB).
inline constexpr size_t kMaxLineSize = 65535;

// A here-document attached to RUN, COPY or ADD (`<<EOF` ... `EOF`).
struct Heredoc {
  std::string name;              // the terminator word, quotes removed
  uint64_t file_descriptor = 0;  // `3<<EOF` → 3; 0 when not given
  bool expand = false;           // false when any part of the name was quoted: no expansion
  bool chomp = false;            // `<<-`: leading tabs are stripped from the terminator (and,
                                 // by later stages, from the content)
  std::string content;           // the lines between, each with its original line ending

  bool operator==(const Heredoc&) const = default;
};

// One node of the AST. The root has one child per instruction. An instruction node holds the
// keyword as written in `value`, its `--flags`, and its arguments in `next`; an argument that is
// itself an instruction (ONBUILD's) is a node whose `children` hold that instruction.
struct Node {
  std::string value;
  std::vector<Node> next;      // the instruction's arguments, in order
  std::vector<Node> children;  // root: the instructions; ONBUILD argument: the sub-instruction
  std::vector<Heredoc> heredocs;
  bool json = false;               // the arguments were given in JSON (exec) form
  std::string original;            // the instruction's logical line, continuations joined
  std::vector<std::string> flags;  // `--name=value` words before the arguments, as written
  int start_line = 0;              // 1-based; set on the root and on each instruction
  int end_line = 0;
  std::vector<std::string> prev_comment;  // the comment lines right above the instruction
};

// A problem that does not stop the build.
struct Warning {
  std::string short_message;
  std::vector<std::string> detail;
  std::string url;
  int line = 0;  // 1-based
};

struct ParseResult {
  Node root;
  std::vector<Warning> warnings;
  char escape_token = kDefaultEscapeToken;  // `\` or `` ` `` (the escape directive)
};

// Parses a Dockerfile. Errors are kInvalidArgument with messages worded as BuildKit's and
// prefixed with the line: `Dockerfile:3: unterminated heredoc`.
Result<ParseResult> Parse(std::string_view dockerfile);

// The AST as BuildKit's parser tests print it: one `(instruction ["flags"] "args"...)` line per
// instruction, strings quoted as Go's strconv.Quote, no trailing newline.
std::string Dump(const Node& node);

// Reads one heredoc word such as `<<-"EOF"` or `3<<EOF`; nullopt when `word` is not one. Fails
// when its quoting is broken (`<<'EOF`).
Result<std::optional<Heredoc>> ParseHeredoc(std::string_view word);

// The heredocs an instruction line opens, in order, with empty contents.
Result<std::vector<Heredoc>> HeredocsFromLine(std::string_view line);

// Strips leading tabs from every line of a `<<-` heredoc's content.
std::string ChompHeredocContent(std::string_view content);

}  // namespace hoist::frontend::dockerfile
