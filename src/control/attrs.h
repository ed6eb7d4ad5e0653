// Reading BuildKit-style string attributes (`push=true`, `compression=zstd`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "control/solve_request.h"

namespace hoist::control {

// The attribute's value, or `fallback` when it is absent.
std::string StringAttr(const Attrs& attrs, std::string_view key, std::string_view fallback = "");
// Go's strconv.ParseBool spellings; absent: `fallback`. kInvalidArgument
// `invalid value "<v>" for <key>: expected true or false`.
Result<bool> BoolAttr(const Attrs& attrs, std::string_view key, bool fallback);
// A comma-separated list (`name=a,b`), empty items dropped.
std::vector<std::string> ListAttr(const Attrs& attrs, std::string_view key);

}  // namespace hoist::control
