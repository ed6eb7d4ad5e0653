#include "oci/internal/json_codec.h"

#include <fmt/format.h>

#include "oci/media_types.h"

namespace hoist::oci::internal {
namespace {

// Records the parser's complaint instead of throwing it.
class ErrorCapture : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    message = ex.what();
    return false;
  }
  std::string message;
};

// Bracket depth outside strings; cheap enough to run before every parse.
bool TooDeep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

Result<Json> ParseJson(std::string_view doc, std::string_view text) {
  if (TooDeep(text)) {
    return MakeError(Code::kInvalidArgument, fmt::format("{}: document nested too deeply", doc));
  }
  Json v = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) {
    ErrorCapture capture;
    Json::sax_parse(text, &capture);
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{}: invalid JSON: {}", doc, capture.message));
  }
  return v;
}

Error FieldError(std::string_view doc, std::string_view path, std::string_view problem) {
  if (path.empty()) return Error(Code::kInvalidArgument, fmt::format("{}: {}", doc, problem));
  return Error(Code::kInvalidArgument, fmt::format("{}: field \"{}\": {}", doc, path, problem));
}

std::string_view TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object: return "object";
    case Json::value_t::array: return "array";
    case Json::value_t::string: return "string";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::null: return "null";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number";
    default: return "value";
  }
}

Error TypeError(std::string_view doc, std::string_view path, std::string_view want, const Json& v) {
  return FieldError(doc, path, fmt::format("expected {}, got {}", want, TypeName(v)));
}

std::string ChildPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

std::string ElementPath(std::string_view parent, size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

ObjectReader::ObjectReader(std::string_view doc, std::string path, const Json& object)
    : doc_(doc), path_(std::move(path)), object_(object) {}

Error ObjectReader::Fail(std::string_view key, std::string_view problem) const {
  return FieldError(doc_, Path(key), problem);
}

Status ObjectReader::MissingError(std::string_view key) const {
  return Unexpected(Fail(key, "required field is missing"));
}

const Json* ObjectReader::Find(std::string_view key) {
  known_.emplace(key);
  auto it = object_.find(std::string(key));
  return it == object_.end() ? nullptr : &*it;
}

Status ObjectReader::String(std::string_view key, std::string* out, bool required) {
  const Json* v = Find(key);
  if (v == nullptr) return required ? MissingError(key) : OkStatus();
  if (!v->is_string()) return Unexpected(TypeError(doc_, Path(key), "string", *v));
  *out = v->get<std::string>();
  return OkStatus();
}

Status ObjectReader::Int64(std::string_view key, int64_t* out, bool required, bool non_negative) {
  const Json* v = Find(key);
  if (v == nullptr) return required ? MissingError(key) : OkStatus();
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return Unexpected(Fail(key, "integer out of range"));
    }
    *out = static_cast<int64_t>(v->get<uint64_t>());
    return OkStatus();
  }
  if (!v->is_number_integer()) return Unexpected(TypeError(doc_, Path(key), "integer", *v));
  int64_t n = v->get<int64_t>();
  if (non_negative && n < 0) return Unexpected(Fail(key, fmt::format("must not be negative, got {}", n)));
  *out = n;
  return OkStatus();
}

Status ObjectReader::Bool(std::string_view key, bool* out) {
  const Json* v = Find(key);
  if (v == nullptr) return OkStatus();
  if (!v->is_boolean()) return Unexpected(TypeError(doc_, Path(key), "boolean", *v));
  *out = v->get<bool>();
  return OkStatus();
}

namespace {
Result<std::vector<std::string>> ReadStrings(std::string_view doc, const std::string& path,
                                             const Json& v) {
  if (!v.is_array()) return Unexpected(TypeError(doc, path, "array", v));
  std::vector<std::string> out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_string()) return Unexpected(TypeError(doc, ElementPath(path, i), "string", v[i]));
    out.push_back(v[i].get<std::string>());
  }
  return out;
}
}  // namespace

Status ObjectReader::StringList(std::string_view key, std::vector<std::string>* out,
                                bool null_is_absent) {
  const Json* v = Find(key);
  if (v == nullptr || (null_is_absent && v->is_null())) return OkStatus();
  HOIST_ASSIGN_OR_RETURN(*out, ReadStrings(doc_, Path(key), *v));
  return OkStatus();
}

Status ObjectReader::OptionalStringList(std::string_view key,
                                        std::optional<std::vector<std::string>>* out) {
  const Json* v = Find(key);
  if (v == nullptr || v->is_null()) {
    out->reset();
    return OkStatus();
  }
  HOIST_ASSIGN_OR_RETURN(*out, ReadStrings(doc_, Path(key), *v));
  return OkStatus();
}

Status ObjectReader::StringMap(std::string_view key, std::map<std::string, std::string>* out,
                               bool null_is_absent) {
  const Json* v = Find(key);
  if (v == nullptr || (null_is_absent && v->is_null())) return OkStatus();
  if (!v->is_object()) return Unexpected(TypeError(doc_, Path(key), "object", *v));
  out->clear();
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_string()) {
      return Unexpected(TypeError(doc_, ChildPath(Path(key), it.key()), "string", it.value()));
    }
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return OkStatus();
}

Status ObjectReader::StringSet(std::string_view key, std::set<std::string>* out) {
  const Json* v = Find(key);
  if (v == nullptr || v->is_null()) return OkStatus();
  if (!v->is_object()) return Unexpected(TypeError(doc_, Path(key), "object", *v));
  out->clear();
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_object()) {
      return Unexpected(TypeError(doc_, ChildPath(Path(key), it.key()), "object", it.value()));
    }
    out->insert(it.key());
  }
  return OkStatus();
}

Result<const Json*> ObjectReader::Object(std::string_view key, bool required) {
  const Json* v = Find(key);
  if (v == nullptr) {
    if (required) return Unexpected(Fail(key, "required field is missing"));
    return nullptr;
  }
  if (!v->is_object()) return Unexpected(TypeError(doc_, Path(key), "object", *v));
  return v;
}

Result<const Json*> ObjectReader::Array(std::string_view key, bool required, bool null_is_absent) {
  const Json* v = Find(key);
  if (v == nullptr || (null_is_absent && v->is_null())) {
    if (required) return Unexpected(Fail(key, "required field is missing"));
    return nullptr;
  }
  if (!v->is_array()) return Unexpected(TypeError(doc_, Path(key), "array", *v));
  return v;
}

std::map<std::string, std::string> ObjectReader::Unknown() const {
  std::map<std::string, std::string> out;
  for (auto it = object_.begin(); it != object_.end(); ++it) {
    if (known_.count(it.key()) != 0) continue;
    JsonWriter w;
    w.Value(it.value());
    out[it.key()] = w.Take();
  }
  return out;
}

Status ReadSchemaVersion(ObjectReader& r, int* out) {
  int64_t version = 0;
  HOIST_TRY(r.Int64("schemaVersion", &version, /*required=*/true, /*non_negative=*/false));
  if (version != 2) {
    return Unexpected(r.Fail("schemaVersion", fmt::format("must be 2, got {}", version)));
  }
  *out = 2;
  return OkStatus();
}

Status CheckMediaType(std::string_view doc, std::string_view path, std::string_view value) {
  if (IsValidMediaType(value)) return OkStatus();
  std::string quoted;
  AppendGoQuoted(&quoted, value);
  return Unexpected(FieldError(doc, path, fmt::format("invalid media type {}", quoted)));
}

Result<Digest> ReadDigest(std::string_view doc, std::string_view path, const Json& v) {
  if (!v.is_string()) return Unexpected(TypeError(doc, path, "string", v));
  Result<Digest> d = Digest::ParseAllowUnsupported(v.get<std::string>());
  if (!d) return Unexpected(FieldError(doc, path, d.error().message()));
  return d;
}

bool IsValidUri(std::string_view s) {
  // RFC 3986 absolute URI: a scheme, then only characters a URI may contain.
  size_t colon = s.find(':');
  if (colon == std::string_view::npos || colon == 0 || !IsAlpha(s[0])) return false;
  for (size_t i = 1; i < colon; ++i) {
    char c = s[i];
    if (!IsAlpha(c) && !IsDigit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  static constexpr std::string_view kAllowed = "-._~:/?#[]@!$&'()*+,;=";
  for (size_t i = colon + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !IsHexDigit(s[i + 1]) || !IsHexDigit(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (!IsAlpha(c) && !IsDigit(c) && kAllowed.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool IsStrictBase64(std::string_view s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (IsDigit(c)) return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.size() % 4 != 0) return false;
  size_t padding = 0;
  while (padding < 2 && padding < s.size() && s[s.size() - 1 - padding] == '=') ++padding;
  size_t body = s.size() - padding;
  for (size_t i = 0; i < body; ++i) {
    if (value(s[i]) < 0) return false;
  }
  // The bits that padding leaves unused must be zero, or two encodings decode alike.
  if (padding == 1 && (value(s[body - 1]) & 0x3) != 0) return false;
  if (padding == 2 && (value(s[body - 1]) & 0xf) != 0) return false;
  return true;
}

bool IsRfc3339(std::string_view s) {
  auto digits = [&](size_t pos, size_t n, int lo, int hi) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!IsDigit(s[i])) return false;
      v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi;
  };
  auto at = [&](size_t pos, char c) { return pos < s.size() && s[pos] == c; };
  if (!digits(0, 4, 0, 9999) || !at(4, '-') || !digits(5, 2, 1, 12) || !at(7, '-') ||
      !digits(8, 2, 1, 31) || !at(10, 'T') || !digits(11, 2, 0, 23) || !at(13, ':') ||
      !digits(14, 2, 0, 59) || !at(16, ':') || !digits(17, 2, 0, 59)) {
    return false;
  }
  size_t pos = 19;
  if (at(pos, '.')) {
    size_t start = ++pos;
    while (pos < s.size() && IsDigit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  if (at(pos, 'Z')) return pos + 1 == s.size();
  if (!at(pos, '+') && !at(pos, '-')) return false;
  return digits(pos + 1, 2, 0, 23) && at(pos + 3, ':') && digits(pos + 4, 2, 0, 59) &&
         pos + 6 == s.size();
}

// --- JsonWriter ---

void AppendGoQuoted(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"': out->append("\\\""); break;
        case '\\': out->append("\\\\"); break;
        case '\n': out->append("\\n"); break;
        case '\r': out->append("\\r"); break;
        case '\t': out->append("\\t"); break;
        case '\b': out->append("\\b"); break;
        case '\f': out->append("\\f"); break;
        default:
          if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            out->append("\\u00");
            out->push_back(kHex[c >> 4]);
            out->push_back(kHex[c & 0xf]);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // Decode one UTF-8 sequence; anything malformed becomes U+FFFD, one byte at a time.
    size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    uint32_t cp = len == 4 ? (c & 0x07) : len == 3 ? (c & 0x0f) : (c & 0x1f);
    bool ok = len != 0 && c < 0xf5 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (ok) {
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    }
    if (!ok) {
      // Go writes the escape `\ufffd` here, which would read back as U+FFFD and then be written
      // raw; writing it raw at once keeps serialise(parse(serialise(x))) byte-identical.
      out->append("\xef\xbf\xbd");
      ++i;
      continue;
    }
    if (cp == 0x2028 || cp == 0x2029) {
      out->append(cp == 0x2028 ? "\\u2028" : "\\u2029");
    } else {
      out->append(s.substr(i, len));
    }
    i += len;
  }
  out->push_back('"');
}

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_member_.empty()) {
    if (has_member_.back()) out_.push_back(',');
    has_member_.back() = true;
  }
}

void JsonWriter::BeginObject() {
  BeforeValue();
  out_.push_back('{');
  has_member_.push_back(false);
}

void JsonWriter::EndObject() {
  out_.push_back('}');
  has_member_.pop_back();
}

void JsonWriter::BeginArray() {
  BeforeValue();
  out_.push_back('[');
  has_member_.push_back(false);
}

void JsonWriter::EndArray() {
  out_.push_back(']');
  has_member_.pop_back();
}

void JsonWriter::Key(std::string_view key) {
  BeforeValue();
  AppendGoQuoted(&out_, key);
  out_.push_back(':');
  after_key_ = true;
}

void JsonWriter::String(std::string_view s) {
  BeforeValue();
  AppendGoQuoted(&out_, s);
}

void JsonWriter::Int(int64_t v) {
  BeforeValue();
  out_.append(std::to_string(v));
}

void JsonWriter::Bool(bool v) {
  BeforeValue();
  out_.append(v ? "true" : "false");
}

void JsonWriter::Raw(std::string_view raw) {
  BeforeValue();
  out_.append(raw);
}

void JsonWriter::Value(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object:
      BeginObject();
      for (auto it = v.begin(); it != v.end(); ++it) {
        Key(it.key());
        Value(it.value());
      }
      EndObject();
      return;
    case Json::value_t::array:
      BeginArray();
      for (const Json& e : v) Value(e);
      EndArray();
      return;
    case Json::value_t::string:
      String(v.get_ref<const std::string&>());
      return;
    default:
      // Numbers, booleans and null have one compact spelling, which nlohmann already writes.
      Raw(v.dump());
      return;
  }
}

void JsonWriter::StringField(std::string_view key, std::string_view v, bool omit_empty) {
  if (omit_empty && v.empty()) return;
  Key(key);
  String(v);
}

void JsonWriter::IntField(std::string_view key, int64_t v, bool omit_zero) {
  if (omit_zero && v == 0) return;
  Key(key);
  Int(v);
}

void JsonWriter::BoolField(std::string_view key, bool v) {
  if (!v) return;
  Key(key);
  Bool(v);
}

void JsonWriter::StringListField(std::string_view key, const std::vector<std::string>& v) {
  if (v.empty()) return;
  Key(key);
  BeginArray();
  for (const std::string& s : v) String(s);
  EndArray();
}

void JsonWriter::OptionalStringListField(std::string_view key,
                                         const std::optional<std::vector<std::string>>& v) {
  if (!v) return;
  Key(key);
  BeginArray();
  for (const std::string& s : *v) String(s);
  EndArray();
}

void JsonWriter::StringMapField(std::string_view key, const std::map<std::string, std::string>& v) {
  if (v.empty()) return;
  Key(key);
  BeginObject();
  for (const auto& [k, value] : v) {
    Key(k);
    String(value);
  }
  EndObject();
}

void JsonWriter::StringSetField(std::string_view key, const std::set<std::string>& v) {
  if (v.empty()) return;
  Key(key);
  BeginObject();
  for (const std::string& k : v) {
    Key(k);
    Raw("{}");
  }
  EndObject();
}

void JsonWriter::UnknownFields(const std::map<std::string, std::string>& unknown,
                               std::initializer_list<std::string_view> known) {
  for (const auto& [key, raw] : unknown) {
    bool shadowed = false;
    for (std::string_view k : known) shadowed = shadowed || k == key;
    if (shadowed) continue;
    Key(key);
    Raw(raw);
  }
}

}  // namespace hoist::oci::internal
