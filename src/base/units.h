// Sizes as people write them in flags and configuration files.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/error.h"

namespace hoist {

// "10GB", "512MiB", "1.5g", "123" (bytes) → bytes, as docker's units.RAMInBytes/FromHumanSize
// read them (decimal kB/MB/GB, binary KiB/MiB/GiB; single letters are binary, as docker's).
// kInvalidArgument `invalid size: 'X'` otherwise.
Result<int64_t> ParseStorageSize(std::string_view s);

}  // namespace hoist
