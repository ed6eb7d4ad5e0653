// Parser directives: the `# syntax=`, `# escape=` and `# check=` comments at the top of a
// Dockerfile, with BuildKit's rules: keys are case-insensitive, recognised only before any
// other line (an empty line, an instruction, an ordinary comment or an unknown key ends the
// block), and each may appear once. DetectSyntax also accepts `//syntax=` lines, a JSON
// document's "syntax" key, a leading `#!` line and a UTF-8 byte order mark, as BuildKit does
// when it chooses a frontend.
//
// Thread-safety: DirectiveParser is a value with mutable state; one user at a time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"

namespace hoist::frontend::dockerfile {

struct Directive {
  std::string name;  // lower-cased: "syntax", "escape" or "check"
  std::string value;
  int line = 0;  // 1-based, counting from the parser's first line
};

// Reads directives line by line until the block ends.
class DirectiveParser {
 public:
  // `comment` is the prefix that introduces a directive ("#", or "//" for DetectSyntax);
  // `lines_before` counts lines already consumed (a shebang).
  explicit DirectiveParser(std::string comment = "#", int lines_before = 0)
      : comment_(std::move(comment)), line_(lines_before) {}

  // The directive on `line` (without its line ending), nullopt when there is none. Once a line
  // ends the block every later call returns nullopt. A repeated key is an error:
  // `only one escape parser directive can be used`.
  Result<std::optional<Directive>> ParseLine(std::string_view line);

  // Parses every line of `data` until the block ends.
  Result<std::vector<Directive>> ParseAll(std::string_view data);

  bool done() const { return done_; }

 private:
  std::string comment_;
  int line_;
  bool done_ = false;
  std::vector<std::string> seen_;
};

struct DetectedDirective {
  std::string ref;      // the value up to its first space: `docker/dockerfile:1`
  std::string cmdline;  // the whole value
  int line = 0;
};

// The frontend the Dockerfile asks for, if any.
std::optional<DetectedDirective> DetectSyntax(std::string_view dockerfile);
// The value of directive `key` ("check", ...) in `#` form only.
std::optional<DetectedDirective> ParseDirective(std::string_view key, std::string_view dockerfile);

}  // namespace hoist::frontend::dockerfile
