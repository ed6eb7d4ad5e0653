// Helpers for what the commands print: human sizes, aligned tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hoist::cmd {

// Decimal units with four significant digits, as `docker images` prints: 423B, 7.34MB.
std::string HumanSize(int64_t bytes);

// Left-aligned columns separated by three spaces; the first row is the header.
std::string FormatTable(const std::vector<std::vector<std::string>>& rows);

}  // namespace hoist::cmd
