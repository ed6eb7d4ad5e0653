// Turning one logical Dockerfile line into an instruction node: the keyword, the builder flags
// and the arguments, shaped per instruction as BuildKit's dispatch table says (exec form,
// whitespace lists, name=value pairs, ONBUILD's nested instruction, HEALTHCHECK's type word).
// Unknown keywords are kept with an empty argument; the instructions stage rejects them.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile::internal {

// The instruction node for `line`; errors carry BuildKit's wording, without a location.
Result<Node> NewNodeFromLine(std::string_view line, char escape_token,
                             std::vector<std::string> comments);

// Splits on unquoted whitespace, keeping quotes and escapes in the words.
std::vector<std::string> ParseWords(std::string_view rest, char escape_token);

struct SplitLine {
  std::string command;
  std::vector<std::string> flags;
  std::string args;
};
// Separates keyword, leading `--flags` and the remaining arguments.
SplitLine SplitCommand(std::string_view line, char escape_token);

// Whether a node's arguments may open heredocs (RUN, COPY, ADD in shell form, also under
// ONBUILD).
bool CanContainHeredoc(const Node& node);

}  // namespace hoist::frontend::dockerfile::internal
