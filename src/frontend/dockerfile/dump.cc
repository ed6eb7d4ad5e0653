// The AST as text, in the exact format of BuildKit's Node.Dump, which its parser test corpora
// (`result` files) are written in.
#include <string>

#include "frontend/dockerfile/internal/parser_go_text.h"
#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile {

std::string Dump(const Node& node) {
  std::string out = internal::ToLowerString(node.value);
  if (!node.flags.empty()) {
    // Go's %q of a []string: ["a" "b"].
    out += " [";
    for (size_t i = 0; i < node.flags.size(); ++i) {
      if (i > 0) out += ' ';
      out += internal::Quote(node.flags[i]);
    }
    out += ']';
  }
  for (const Node& child : node.children) {
    out += '(';
    out += Dump(child);
    out += ")\n";
  }
  for (const Node& arg : node.next) {
    out += ' ';
    out += arg.children.empty() ? internal::Quote(arg.value) : Dump(arg);
  }
  return std::string(internal::TrimSpace(out));
}

}  // namespace hoist::frontend::dockerfile
