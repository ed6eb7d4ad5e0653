#include "base/csv.h"

#include <fmt/format.h>

namespace hoist {

Result<std::vector<std::string>> SplitCsv(std::string_view line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += c;
      }
      continue;
    }
    if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '"') {
      // Go's csv allows quotes that start a field or a key=value's value (LazyQuotes-free
      // readers reject a quote elsewhere; buildx passes values like name="a,b").
      quoted = true;
    } else {
      field += c;
    }
  }
  if (quoted) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid CSV \"{}\": extraneous or missing \" in quoted-field",
                                 line));
  }
  fields.push_back(std::move(field));
  return fields;
}

Result<bool> ParseBool(std::string_view key, std::string_view value) {
  for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (value == t) return true;
  }
  for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (value == f) return false;
  }
  return MakeError(Code::kInvalidArgument,
                   fmt::format("invalid value \"{}\" for {}: expected true or false", value, key));
}

}  // namespace hoist
