// A JSON decoder that accepts and rejects exactly what Go's json.Unmarshal does into an
// interface value: the exec form (`CMD ["a", "b"]`) and the `{"syntax": ...}` directive depend
// on Go's verdicts, which differ from other libraries' in details (invalid UTF-8 and lone
// surrogates become U+FFFD instead of failing; numbers beyond float64 fail; nesting is limited
// to 10000).
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hoist::frontend::dockerfile::internal {

struct JsonMember;

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string string;               // kString
  std::vector<JsonValue> items;     // kArray
  std::vector<JsonMember> members;  // kObject, in document order
};

// A struct rather than a std::pair: a pair cannot name JsonValue before it is complete.
struct JsonMember {
  std::string name;
  JsonValue value;
};

// The decoded document, or nullopt where json.Unmarshal(text, &any) would return an error.
std::optional<JsonValue> DecodeJson(std::string_view text);

}  // namespace hoist::frontend::dockerfile::internal
