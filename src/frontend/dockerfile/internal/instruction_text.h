// Small text helpers shared by the instruction parsers (instructions.cc, instructions_flags.cc).
#pragma once

#include <cctype>
#include <string>
#include <string_view>
#include <utility>

#include "base/error.h"

namespace hoist::frontend::dockerfile::internal {

inline tl::unexpected<Error> Invalid(std::string message) {
  return MakeError(Code::kInvalidArgument, std::move(message));
}

// ASCII case mapping: instruction and flag names are ASCII words.
inline std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
inline std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace hoist::frontend::dockerfile::internal
