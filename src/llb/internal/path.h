// POSIX path helpers with Go's path.Clean/path.Join semantics, which BuildKit uses to
// normalise LLB paths. Private to src/llb.
#pragma once

#include <string>
#include <string_view>

namespace hoist::llb::internal {

// Go's path.Clean: "" → ".", "a//b/../c/" → "a/c", "/.." → "/".
std::string CleanPath(std::string_view p);
// Go's path.Join of two elements: empty elements are skipped, the result cleaned.
std::string JoinPath(std::string_view a, std::string_view b);
inline bool IsAbsPath(std::string_view p) { return !p.empty() && p.front() == '/'; }

}  // namespace hoist::llb::internal
