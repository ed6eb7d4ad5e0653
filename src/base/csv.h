// One CSV record as Go's encoding/csv reads it, for the key=value lists of BuildKit-style
// flags and attributes (`type=oci,name="a:1,b:2"`, `mode=max,builder-id=x`).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace hoist {

// Splits a CSV line with double-quote quoting (`name="a:1,b:2",push=false` →
// [name=a:1,b:2, push=false]). kInvalidArgument for an unterminated quote.
Result<std::vector<std::string>> SplitCsv(std::string_view line);

}  // namespace hoist
