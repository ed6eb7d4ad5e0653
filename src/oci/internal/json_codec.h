// Shared pieces of the OCI JSON codecs: strict, path-naming readers over nlohmann::ordered_json
// and a writer that produces Go encoding/json's compact output byte for byte.
//
// Only .cc files of src/oci include this header: it pulls in nlohmann/json.hpp.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/platform.h"

namespace hoist::oci::internal {

// Insertion-ordered, so unknown fields keep the order they arrived in.
using Json = nlohmann::ordered_json;

// Documents nested deeper than this are refused before parsing; it bounds the recursion of
// the writer that re-emits unknown fields.
inline constexpr int kMaxJsonDepth = 128;

// Parses a whole document. Errors: `<doc>: invalid JSON: <reason>`, `<doc>: document nested
// too deeply`.
Result<Json> ParseJson(std::string_view doc, std::string_view text);

// `<doc>: field "<path>": <problem>` (kInvalidArgument); an empty path names the document.
Error FieldError(std::string_view doc, std::string_view path, std::string_view problem);
// "object", "array", "string", "number", "boolean" or "null".
std::string_view TypeName(const Json& v);
// `expected <want>, got <TypeName(v)>` as a FieldError.
Error TypeError(std::string_view doc, std::string_view path, std::string_view want, const Json& v);
std::string ChildPath(std::string_view parent, std::string_view key);
std::string ElementPath(std::string_view parent, size_t index);

// Reads the members of one JSON object, remembering which keys were consulted so that the
// rest can be kept as unknown fields. The object must outlive the reader.
class ObjectReader {
 public:
  ObjectReader(std::string_view doc, std::string path, const Json& object);

  std::string_view doc() const { return doc_; }
  std::string Path(std::string_view key) const { return ChildPath(path_, key); }
  Error Fail(std::string_view key, std::string_view problem) const;

  // The member, or nullptr when absent; marks the key as known either way.
  const Json* Find(std::string_view key);
  bool Has(std::string_view key) const { return object_.contains(key); }

  // Absent leaves *out untouched; `required` turns absence into an error. null is a type
  // error unless noted.
  Status String(std::string_view key, std::string* out, bool required = false);
  Status Int64(std::string_view key, int64_t* out, bool required = false, bool non_negative = true);
  Status Bool(std::string_view key, bool* out);
  // Arrays of strings. `null_is_absent` accepts null as if the member were missing.
  Status StringList(std::string_view key, std::vector<std::string>* out, bool null_is_absent);
  Status OptionalStringList(std::string_view key, std::optional<std::vector<std::string>>* out);
  // Objects of string values.
  Status StringMap(std::string_view key, std::map<std::string, std::string>* out,
                   bool null_is_absent);
  // Objects whose values are (ignored) objects: Go's map[string]struct{}.
  Status StringSet(std::string_view key, std::set<std::string>* out);
  // The member must be an object; nullptr when absent.
  Result<const Json*> Object(std::string_view key, bool required = false);
  // The member must be an array; nullptr when absent (or null with null_is_absent).
  Result<const Json*> Array(std::string_view key, bool required = false, bool null_is_absent = false);

  // Members never consulted, as canonical raw JSON text.
  std::map<std::string, std::string> Unknown() const;

 private:
  Status MissingError(std::string_view key) const;
  std::string_view doc_;
  std::string path_;
  const Json& object_;
  std::set<std::string, std::less<>> known_;
};

// schemaVersion: required, and 2 is the only version there is.
Status ReadSchemaVersion(ObjectReader& r, int* out);

// Field checks shared by the codecs; each names doc and path in its error.
Status CheckMediaType(std::string_view doc, std::string_view path, std::string_view value);
Result<Digest> ReadDigest(std::string_view doc, std::string_view path, const Json& v);
bool IsValidUri(std::string_view s);
bool IsStrictBase64(std::string_view s);
// RFC 3339 date-time, as Go's time.Time accepts it in JSON.
bool IsRfc3339(std::string_view s);

// Compact JSON exactly as Go's encoding/json writes it: no spaces, `<>&` and U+2028/U+2029 as
// \u escapes, invalid UTF-8 as a raw U+FFFD (Go escapes that one; see AppendGoQuoted).
class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  void Key(std::string_view key);
  void String(std::string_view s);
  void Int(int64_t v);
  void Bool(bool v);
  // Inserts already-serialised JSON. REQUIRES: `raw` is one valid JSON value.
  void Raw(std::string_view raw);
  // Writes a parsed value; object members keep their order.
  void Value(const Json& v);

  // Helpers for `omitempty` members.
  void StringField(std::string_view key, std::string_view v, bool omit_empty = true);
  void IntField(std::string_view key, int64_t v, bool omit_zero = true);
  void BoolField(std::string_view key, bool v);  // omitted when false
  void StringListField(std::string_view key, const std::vector<std::string>& v);  // omitted when empty
  // Written when engaged, even if empty: `[]` and absent differ on the wire.
  void OptionalStringListField(std::string_view key,
                               const std::optional<std::vector<std::string>>& v);
  void StringMapField(std::string_view key, const std::map<std::string, std::string>& v);
  void StringSetField(std::string_view key, const std::set<std::string>& v);
  // Unknown fields, in key order, skipping any key in `known`.
  void UnknownFields(const std::map<std::string, std::string>& unknown,
                     std::initializer_list<std::string_view> known);

  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();
  std::string out_;
  std::vector<bool> has_member_;  // per open container
  bool after_key_ = false;
};

void AppendGoQuoted(std::string* out, std::string_view s);

// Descriptor and platform pieces shared by manifest, index and descriptor codecs.
Result<Descriptor> ReadDescriptor(std::string_view doc, std::string path, const Json& v);
void WriteDescriptor(JsonWriter& w, const Descriptor& d);
Result<Platform> ReadPlatform(std::string_view doc, std::string path, const Json& v);
void WritePlatform(JsonWriter& w, const Platform& p);

}  // namespace hoist::oci::internal
