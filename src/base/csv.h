// The values of BuildKit-style flags and attributes: one CSV record as Go's encoding/csv reads
// it, for key=value lists (`type=oci,name="a:1,b:2"`, `mode=max,builder-id=x`), and booleans as
// Go's strconv.ParseBool reads them.
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

// 1 t T TRUE true True, 0 f F FALSE false False. kInvalidArgument names `key`:
// `invalid value "<v>" for <key>: expected true or false`.
Result<bool> ParseBool(std::string_view key, std::string_view value);

}  // namespace hoist
