#include "frontend/dockerfile/directives.h"

#include <algorithm>
#include <cctype>

#include "frontend/dockerfile/internal/parser_go_text.h"
#include "frontend/dockerfile/internal/parser_json.h"

namespace hoist::frontend::dockerfile {
namespace {

using internal::TrimLeftSpace;

constexpr std::string_view kValidDirectives[] = {"syntax", "escape", "check"};

// `\s` of Go's regexp: ASCII space, \t, \n, \f, \r (not \v).
bool IsRegexpSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }
bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiAlnum(char c) { return IsAsciiLetter(c) || (c >= '0' && c <= '9'); }

struct KeyValue {
  std::string_view key;
  std::string_view value;
};

// Matches `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`, BuildKit's directive pattern, including
// its corner: a value of only spaces matches as its last character.
std::optional<KeyValue> MatchDirective(std::string_view line) {
  if (line.empty() || !IsAsciiLetter(line[0])) return std::nullopt;
  size_t i = 1;
  while (i < line.size() && IsAsciiAlnum(line[i])) ++i;
  std::string_view key = line.substr(0, i);
  while (i < line.size() && IsRegexpSpace(line[i])) ++i;
  if (i >= line.size() || line[i] != '=') return std::nullopt;
  std::string_view rest = line.substr(i + 1);
  size_t begin = 0;
  while (begin < rest.size() && IsRegexpSpace(rest[begin])) ++begin;
  size_t end = rest.size();
  while (end > begin && IsRegexpSpace(rest[end - 1])) --end;
  if (begin < end) {
    std::string_view value = rest.substr(begin, end - begin);
    // `.` does not match a newline.
    if (value.find('\n') != std::string_view::npos) return std::nullopt;
    return KeyValue{key, value};
  }
  // Only spaces after `=`: the lazy group takes the last character that `.` can match.
  for (size_t j = rest.size(); j > 0; --j) {
    if (rest[j - 1] != '\n') return KeyValue{key, rest.substr(j - 1, 1)};
  }
  return std::nullopt;
}

// Splits like bufio.ScanLines: on '\n', dropping one '\r' before it; stops at a line longer
// than the scanner's buffer.
std::vector<std::string_view> ScanLines(std::string_view data) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    size_t end = nl == std::string_view::npos ? data.size() : nl;
    size_t token = end - pos + (nl == std::string_view::npos ? 0 : 1);
    if (token > (nl == std::string_view::npos ? 65535u : 65536u)) break;
    std::string_view line = data.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = nl == std::string_view::npos ? data.size() : nl + 1;
  }
  return lines;
}

std::string_view DiscardBom(std::string_view data) {
  if (data.substr(0, 3) == "\xEF\xBB\xBF") data.remove_prefix(3);
  return data;
}

std::optional<DetectedDirective> DetectWithParser(std::string_view key, std::string_view data,
                                                  DirectiveParser parser) {
  // Directives read before an error still count, as in BuildKit.
  for (std::string_view line : ScanLines(data)) {
    if (parser.done()) break;
    auto directive = parser.ParseLine(line);
    if (!directive) break;
    if (*directive && (*directive)->name == key) {
      const std::string& value = (*directive)->value;
      return DetectedDirective{value.substr(0, value.find(' ')), value, (*directive)->line};
    }
  }
  return std::nullopt;
}

std::optional<DetectedDirective> Detect(std::string_view key, std::string_view data,
                                        bool any_format) {
  data = DiscardBom(data);
  int line = 0;
  std::string_view first = data.substr(0, data.find('\n'));
  if (first.substr(0, 2) == "#!") {
    data = first.size() == data.size() ? std::string_view() : data.substr(first.size() + 1);
    line = 1;
  }
  if (auto found = DetectWithParser(key, data, DirectiveParser("#", line))) return found;
  if (!any_format) return std::nullopt;
  if (auto found = DetectWithParser(key, data, DirectiveParser("//", line))) return found;

  auto json = internal::DecodeJson(data);
  if (!json || json->kind != internal::JsonValue::Kind::kObject) return std::nullopt;
  const internal::JsonValue* value = nullptr;
  for (const auto& [name, member] : json->members) {
    if (name == key) value = &member;  // the last duplicate wins, as in a Go map
  }
  if (value == nullptr || value->kind != internal::JsonValue::Kind::kString) return std::nullopt;
  return DetectedDirective{value->string, value->string, line};
}

}  // namespace

Result<std::optional<Directive>> DirectiveParser::ParseLine(std::string_view line) {
  ++line_;
  if (done_) return std::nullopt;
  if (line.substr(0, comment_.size()) != comment_) {
    done_ = true;
    return std::nullopt;
  }
  line = TrimLeftSpace(line.substr(comment_.size()));
  auto match = MatchDirective(line);
  if (!match) {
    done_ = true;
    return std::nullopt;
  }
  std::string key(match->key);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (std::find(std::begin(kValidDirectives), std::end(kValidDirectives), key) ==
      std::end(kValidDirectives)) {
    done_ = true;
    return std::nullopt;
  }
  if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) {
    return MakeError(Code::kInvalidArgument, "only one " + key + " parser directive can be used");
  }
  seen_.push_back(key);
  return Directive{key, std::string(match->value), line_};
}

Result<std::vector<Directive>> DirectiveParser::ParseAll(std::string_view data) {
  std::vector<Directive> directives;
  for (std::string_view line : ScanLines(data)) {
    if (done_) break;
    HOIST_ASSIGN_OR_RETURN(auto directive, ParseLine(line));
    if (directive) directives.push_back(std::move(*directive));
  }
  return directives;
}

std::optional<DetectedDirective> DetectSyntax(std::string_view dockerfile) {
  return Detect("syntax", dockerfile, true);
}

std::optional<DetectedDirective> ParseDirective(std::string_view key, std::string_view dockerfile) {
  return Detect(key, dockerfile, false);
}

}  // namespace hoist::frontend::dockerfile
