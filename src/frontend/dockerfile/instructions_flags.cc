// Value parsers used by the typed instructions: RUN --mount and --device CSV values, Go
// durations for HEALTHCHECK, and the "did you mean" suggestions.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "frontend/dockerfile/instructions.h"
#include "frontend/dockerfile/internal/instruction_text.h"

namespace hoist::frontend::dockerfile {
namespace {

using internal::Invalid;
using internal::Lower;
using internal::Upper;

// Go's %q for plain text.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// One CSV record as Go's encoding/csv reads it: fields split on commas, a field starting with
// a double quote runs to the closing quote, `""` inside it is a quote.
Result<std::vector<std::string>> CsvFields(std::string_view line) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        field += line[i++];
      }
      if (!closed) return Invalid("extraneous or missing \" in quoted-field");
      if (i < line.size() && line[i] != ',') return Invalid("extraneous or missing \" in quoted-field");
    } else {
      size_t end = line.find(',', i);
      if (end == std::string_view::npos) end = line.size();
      field = std::string(line.substr(i, end - i));
      if (field.find('"') != std::string::npos) return Invalid("bare \" in non-quoted-field");
      i = end;
    }
    fields.push_back(std::move(field));
    if (i >= line.size()) break;
    ++i;  // the comma
  }
  return fields;
}

std::optional<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") {
    return false;
  }
  return std::nullopt;
}

std::optional<uint64_t> ParseUint32(std::string_view s, int base) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size() || v > UINT32_MAX) return std::nullopt;
  return v;
}

// docker/go-units RAMInBytes: "64m", "1.5GiB", "1024" → bytes, binary multipliers.
std::optional<int64_t> RamInBytes(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  std::string_view num = s.substr(0, i);
  if (num.empty() || !std::isdigit(static_cast<unsigned char>(num[0])) || num.back() == '.') {
    return std::nullopt;
  }
  std::string_view rest = s.substr(i);
  if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  double mult = 1;
  if (!rest.empty()) {
    switch (std::tolower(static_cast<unsigned char>(rest[0]))) {
      case 'k': mult = 1024.0; break;
      case 'm': mult = 1024.0 * 1024; break;
      case 'g': mult = 1024.0 * 1024 * 1024; break;
      case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
      case 'p': mult = 1024.0 * 1024 * 1024 * 1024 * 1024; break;
      default: mult = 0;
    }
    if (mult != 0) rest.remove_prefix(1);
    else mult = 1;
  }
  if (!rest.empty() && (rest[0] == 'i' || rest[0] == 'I')) rest.remove_prefix(1);
  if (!rest.empty() && (rest[0] == 'b' || rest[0] == 'B')) rest.remove_prefix(1);
  if (!rest.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || p != num.data() + num.size()) return std::nullopt;
  return static_cast<int64_t>(v * mult);
}

size_t Levenshtein(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

tl::unexpected<Error> Suggested(std::string message, std::string_view value,
                                const std::vector<std::string>& options) {
  if (auto match = SuggestName(value, options, true)) {
    message += fmt::format(" (did you mean {}?)", *match);
  }
  return Invalid(std::move(message));
}

}  // namespace

std::string_view MountTypeName(MountType type) {
  switch (type) {
    case MountType::kBind: return "bind";
    case MountType::kCache: return "cache";
    case MountType::kTmpfs: return "tmpfs";
    case MountType::kSecret: return "secret";
    case MountType::kSsh: return "ssh";
  }
  return "";
}

std::optional<std::string> SuggestName(std::string_view value,
                                       const std::vector<std::string>& options,
                                       bool case_sensitive) {
  std::string val = case_sensitive ? std::string(value) : Lower(value);
  std::optional<std::string> match;
  size_t min_dist = 3;
  for (const std::string& option : options) {
    std::string opt = case_sensitive ? option : Lower(option);
    if (val == opt) return std::nullopt;
    size_t dist = Levenshtein(val, opt);
    if (dist < min_dist) {
      min_dist = dist;
      if (case_sensitive) {
        match = opt;
      } else if (value == Lower(value)) {
        match = Lower(opt);
      } else if (value == Upper(value)) {
        match = Upper(opt);
      } else {
        match = opt;
      }
    }
  }
  return match;
}

Result<Mount> ParseMount(std::string_view value) { return ParseMount(value, nullptr); }

Result<Mount> ParseMount(std::string_view value,
                         const std::function<Result<std::string>(const std::string&)>& expand) {
  auto fields = CsvFields(value);
  if (!fields) return Invalid("failed to parse csv mounts: " + fields.error().message());
  Mount m;
  bool ro_auto = true;
  bool type_is_secret_or_ssh = false;
  for (const std::string& field : *fields) {
    size_t eq = field.find('=');
    std::string key = Lower(field.substr(0, eq));
    if (eq == std::string::npos) {
      if (key == "readonly" || key == "ro") {
        m.read_only = true;
        ro_auto = false;
      } else if (key == "readwrite" || key == "rw") {
        m.read_only = false;
        ro_auto = false;
      } else if (key == "required" && type_is_secret_or_ssh) {
        m.required = true;
      } else if (key == "required") {
        return Invalid(fmt::format("unexpected key '{}' for mount type '{}'", key,
                                   MountTypeName(m.type)));
      } else {
        return Invalid(fmt::format("invalid field '{}' must be a key=value pair", field));
      }
      continue;
    }
    std::string val = field.substr(eq + 1);
    if (expand) {
      HOIST_ASSIGN_OR_RETURN(val, expand(val));
    } else if (key != "from" && val.find('$') != std::string::npos) {
      continue;  // a variable: checked when the conversion expands it
    }
    auto bad_value = [&] { return Invalid(fmt::format("invalid value for {}: {}", key, val)); };
    auto wrong_type = [&] {
      return Invalid(fmt::format("unexpected key '{}' for mount type '{}'", key,
                                 MountTypeName(m.type)));
    };
    if (key == "type") {
      static const std::vector<std::string> kTypes = {"bind", "cache", "tmpfs", "secret", "ssh"};
      std::string t = Lower(val);
      auto it = std::find(kTypes.begin(), kTypes.end(), t);
      if (it == kTypes.end()) return Suggested(fmt::format("unsupported mount type {}", Quote(val)), val, kTypes);
      m.type = static_cast<MountType>(it - kTypes.begin());
      type_is_secret_or_ssh = m.type == MountType::kSecret || m.type == MountType::kSsh;
    } else if (key == "from") {
      size_t dollar = val.find('$');
      if (!expand && dollar != std::string::npos && dollar != val.size() - 1) {
        return Invalid(fmt::format(
            "'{}' doesn't support variable expansion, define alias stage instead", key));
      }
      m.from = val;
    } else if (key == "source" || key == "src") {
      m.source = val;
    } else if (key == "target" || key == "dst" || key == "destination") {
      m.target = val;
    } else if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw") {
      auto b = ParseGoBool(val);
      if (!b) return bad_value();
      m.read_only = (key == "readonly" || key == "ro") ? *b : !*b;
      ro_auto = false;
    } else if (key == "required") {
      if (!type_is_secret_or_ssh) return wrong_type();
      auto b = ParseGoBool(val);
      if (!b) return bad_value();
      m.required = *b;
    } else if (key == "size") {
      if (m.type != MountType::kTmpfs) return wrong_type();
      auto size = RamInBytes(val);
      if (!size) return bad_value();
      m.size_limit = *size;
    } else if (key == "id") {
      m.cache_id = val;
    } else if (key == "sharing") {
      static const std::vector<std::string> kModes = {"shared", "private", "locked"};
      std::string s = Lower(val);
      auto it = std::find(kModes.begin(), kModes.end(), s);
      if (it == kModes.end()) return Suggested(fmt::format("unsupported sharing value {}", Quote(val)), val, kModes);
      m.cache_sharing = static_cast<ShareMode>(1 + (it - kModes.begin()));
    } else if (key == "mode" || key == "uid" || key == "gid") {
      auto n = ParseUint32(val, key == "mode" ? 8 : 10);
      if (!n) return Invalid(fmt::format("invalid value {} for {}", val, key));
      (key == "mode" ? m.mode : key == "uid" ? m.uid : m.gid) = *n;
    } else if (key == "env") {
      m.env = val;
    } else {
      static const std::vector<std::string> kKeys = {
          "type", "from", "source", "target", "readonly", "id", "sharing", "required", "size",
          "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env"};
      return Suggested(fmt::format("unexpected key '{}' in '{}'", key, field), key, kKeys);
    }
  }
  std::string_view type_name = MountTypeName(m.type);
  bool file_info_allowed = type_is_secret_or_ssh || m.type == MountType::kCache;
  if (!file_info_allowed) {
    if (m.mode) return Invalid(fmt::format("mode not allowed for {} type mounts", Quote(type_name)));
    if (m.uid) return Invalid(fmt::format("uid not allowed for {} type mounts", Quote(type_name)));
    if (m.gid) return Invalid(fmt::format("gid not allowed for {} type mounts", Quote(type_name)));
  }
  if (ro_auto) m.read_only = !(m.type == MountType::kCache || m.type == MountType::kTmpfs);
  if (m.type == MountType::kSecret) {
    if (!m.from.empty()) return Invalid("secret mount should not have a from");
    if (m.cache_sharing != ShareMode::kUnset) return Invalid("secret mount should not define sharing");
    if (m.source.empty() && m.target.empty() && m.cache_id.empty()) {
      return Invalid("invalid secret mount. one of source, target required");
    }
    if (!m.source.empty() && !m.cache_id.empty()) return Invalid("both source and id can't be set");
  }
  if (m.cache_sharing != ShareMode::kUnset && m.type != MountType::kCache) {
    return Invalid(fmt::format("invalid cache sharing set for {} mount", type_name));
  }
  return m;
}

Result<Device> ParseDevice(std::string_view value) {
  auto fields = CsvFields(value);
  if (!fields) return Invalid("failed to parse csv devices: " + fields.error().message());
  Device d;
  for (const std::string& field : *fields) {
    size_t eq = field.find('=');
    std::string key = Lower(field.substr(0, eq));
    if (eq == std::string::npos) {
      if (key == "required") {
        d.required = true;
      } else if (d.name.empty()) {
        d.name = field;
      } else {
        return Invalid(fmt::format("invalid field '{}' must be a key=value pair", field));
      }
      continue;
    }
    std::string val = field.substr(eq + 1);
    if (key == "name") {
      if (!d.name.empty()) return Invalid(fmt::format("device name already set to {}", d.name));
      d.name = val;
    } else if (key == "required") {
      auto b = ParseGoBool(val);
      if (!b) return Invalid(fmt::format("invalid value for {}: {}", key, val));
      d.required = *b;
    } else if (d.name.empty()) {
      d.name = field;
    } else {
      return Suggested(fmt::format("unexpected key '{}' in '{}'", key, field), key,
                       {"name", "required"});
    }
  }
  return d;
}

Result<std::chrono::nanoseconds> ParseGoDuration(std::string_view s) {
  const std::string orig(s);
  auto bad = [&] { return Invalid(fmt::format("time: invalid duration {}", Quote(orig))); };
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return std::chrono::nanoseconds(0);
  if (s.empty()) return bad();
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    std::string_view num = s.substr(0, i);
    if (num.empty() || num == ".") return bad();
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && !std::isdigit(static_cast<unsigned char>(s[j])) && s[j] != '.') ++j;
    std::string_view unit = s.substr(0, j);
    s.remove_prefix(j);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else if (unit.empty()) return Invalid(fmt::format("time: missing unit in duration {}", Quote(orig)));
    else return Invalid(fmt::format("time: unknown unit {} in duration {}", Quote(unit), Quote(orig)));
    double v = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || p != num.data() + num.size()) return bad();
    total += v * mult;
  }
  if (total > static_cast<long double>(INT64_MAX)) return bad();
  auto ns = static_cast<int64_t>(total);
  return std::chrono::nanoseconds(negative ? -ns : ns);
}

}  // namespace hoist::frontend::dockerfile
