#include "frontend/dockerfile/internal/parser_line_parsers.h"

#include "frontend/dockerfile/internal/parser_go_text.h"
#include "frontend/dockerfile/internal/parser_json.h"

namespace hoist::frontend::dockerfile::internal {
namespace {

constexpr std::string_view kNotStringArray =
    "when using JSON array syntax, arrays must be comprised of strings only";

struct Args {
  std::vector<Node> next;
  bool json = false;
};

using ArgParser = Result<Args> (*)(std::string_view rest, char escape_token);

Node Word(std::string value) {
  Node node;
  node.value = std::move(value);
  return node;
}

tl::unexpected<Error> ArgError(std::string message) {
  return MakeError(Code::kInvalidArgument, std::move(message));
}

// The `[\t\v\f\r ]+` pattern BuildKit splits on.
bool IsSplitSpace(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

// regexp.Split(s, n) for that pattern (n < 0: all). Like Go's, it never returns an empty list,
// and whitespace at either end yields an empty first or last part.
std::vector<std::string> SplitWhitespace(std::string_view s, int n) {
  if (s.empty()) return {""};
  std::vector<std::string> parts;
  size_t begin = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!IsSplitSpace(s[i])) {
      ++i;
      continue;
    }
    if (n > 0 && static_cast<int>(parts.size()) == n - 1) break;
    size_t start = i;
    while (i < s.size() && IsSplitSpace(s[i])) ++i;
    parts.emplace_back(s.substr(begin, start - begin));
    begin = i;
  }
  parts.emplace_back(s.substr(begin));
  return parts;
}

Result<Args> ParseIgnore(std::string_view, char) {
  // BuildKit keeps one empty argument for unknown instructions.
  Args args;
  args.next.emplace_back();
  return args;
}

Result<Args> ParseSubCommand(std::string_view rest, char escape_token) {
  if (rest.empty()) return Args{};
  HOIST_ASSIGN_OR_RETURN(Node child, NewNodeFromLine(rest, escape_token, {}));
  Args args;
  Node holder;
  holder.children.push_back(std::move(child));
  args.next.push_back(std::move(holder));
  return args;
}

Result<Args> ParseStringsWhitespaceDelimited(std::string_view rest, char) {
  if (rest.empty()) return Args{};
  Args args;
  for (std::string& part : SplitWhitespace(rest, -1)) args.next.push_back(Word(std::move(part)));
  return args;
}

Result<Args> ParseString(std::string_view rest, char) {
  if (rest.empty()) return Args{};
  Args args;
  args.next.push_back(Word(std::string(rest)));
  return args;
}

enum class JsonVerdict { kOk, kNotJson, kNotStrings };

JsonVerdict ParseJson(std::string_view rest, Args* args) {
  rest = TrimLeftSpace(rest);
  if (rest.empty() || rest[0] != '[') return JsonVerdict::kNotJson;
  auto json = DecodeJson(rest);
  if (!json || json->kind != JsonValue::Kind::kArray) return JsonVerdict::kNotJson;
  for (JsonValue& item : json->items) {
    if (item.kind != JsonValue::Kind::kString) return JsonVerdict::kNotStrings;
    args->next.push_back(Word(std::move(item.string)));
  }
  args->json = true;
  return JsonVerdict::kOk;
}

Result<Args> ParseMaybeJson(std::string_view rest, char) {
  if (rest.empty()) return Args{};
  Args args;
  switch (ParseJson(rest, &args)) {
    case JsonVerdict::kOk:
      return args;
    case JsonVerdict::kNotStrings:
      return ArgError(std::string(kNotStringArray));
    case JsonVerdict::kNotJson:
      break;
  }
  Args shell;
  shell.next.push_back(Word(std::string(rest)));
  return shell;
}

Result<Args> ParseMaybeJsonToList(std::string_view rest, char escape_token) {
  Args args;
  switch (ParseJson(rest, &args)) {
    case JsonVerdict::kOk:
      return args;
    case JsonVerdict::kNotStrings:
      return ArgError(std::string(kNotStringArray));
    case JsonVerdict::kNotJson:
      break;
  }
  return ParseStringsWhitespaceDelimited(rest, escape_token);
}

// ENV and LABEL: `key=value ...`, or the legacy `key value` with everything after the first
// space as the value. The third node of each triple is the separator ("=" or "").
Result<Args> ParseNameVal(std::string_view rest, std::string_view keyword, char escape_token) {
  std::vector<std::string> words = ParseWords(rest, escape_token);
  if (words.empty()) return Args{};
  Args args;
  if (words[0].find('=') == std::string::npos) {
    std::vector<std::string> parts = SplitWhitespace(rest, 2);
    if (parts.size() < 2) return ArgError(std::string(keyword) + " must have two arguments");
    args.next.push_back(Word(std::move(parts[0])));
    args.next.push_back(Word(std::move(parts[1])));
    args.next.push_back(Word(""));
    return args;
  }
  for (const std::string& word : words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
      return ArgError("Syntax error - can't find = in " + Quote(word) +
                      ". Must be of the form: name=value");
    }
    args.next.push_back(Word(word.substr(0, eq)));
    args.next.push_back(Word(word.substr(eq + 1)));
    args.next.push_back(Word("="));
  }
  return args;
}

Result<Args> ParseEnv(std::string_view rest, char escape_token) {
  return ParseNameVal(rest, "ENV", escape_token);
}

Result<Args> ParseLabel(std::string_view rest, char escape_token) {
  return ParseNameVal(rest, "LABEL", escape_token);
}

// ARG: `name` or `name=value` words.
Result<Args> ParseNameOrNameVal(std::string_view rest, char escape_token) {
  Args args;
  for (std::string& word : ParseWords(rest, escape_token))
    args.next.push_back(Word(std::move(word)));
  return args;
}

// HEALTHCHECK: a type word (CMD, NONE) then a command in either form. BuildKit scans bytes
// here, so a 0x85 or 0xA0 byte counts as a space.
Result<Args> ParseHealthConfig(std::string_view rest, char escape_token) {
  size_t sep = 0;
  while (sep < rest.size() && !IsByteSpace(static_cast<unsigned char>(rest[sep]))) ++sep;
  size_t next = sep;
  while (next < rest.size() && IsByteSpace(static_cast<unsigned char>(rest[next]))) ++next;
  if (sep == 0) return Args{};
  HOIST_ASSIGN_OR_RETURN(Args command, ParseMaybeJson(rest.substr(next), escape_token));
  Args args;
  args.json = command.json;
  args.next.push_back(Word(std::string(rest.substr(0, sep))));
  for (Node& node : command.next) args.next.push_back(std::move(node));
  return args;
}

struct Dispatch {
  std::string_view keyword;
  ArgParser parse;
};

constexpr Dispatch kDispatch[] = {
    {"add", ParseMaybeJsonToList},
    {"arg", ParseNameOrNameVal},
    {"cmd", ParseMaybeJson},
    {"copy", ParseMaybeJsonToList},
    {"entrypoint", ParseMaybeJson},
    {"env", ParseEnv},
    {"expose", ParseStringsWhitespaceDelimited},
    {"from", ParseStringsWhitespaceDelimited},
    {"healthcheck", ParseHealthConfig},
    {"label", ParseLabel},
    {"maintainer", ParseString},
    {"onbuild", ParseSubCommand},
    {"run", ParseMaybeJson},
    {"shell", ParseMaybeJson},
    {"stopsignal", ParseString},
    {"user", ParseString},
    {"volume", ParseMaybeJsonToList},
    {"workdir", ParseString},
};

ArgParser LookUp(std::string_view command) {
  std::string lower = ToLowerString(command);
  for (const Dispatch& d : kDispatch) {
    if (d.keyword == lower) return d.parse;
  }
  return ParseIgnore;
}

// Appends byte `b` as Go's WriteRune(rune(b)) does: bytes from 0x80 up become two-byte UTF-8.
void AppendByteRune(std::string* out, unsigned char b) { AppendRune(out, b); }

// Takes the leading `--flag` words off `line`; returns the rest of the line. BuildKit walks
// bytes here, not runes.
std::string_view ExtractBuilderFlags(std::string_view line, char escape_token,
                                     std::vector<std::string>* flags) {
  enum Phase { kInSpaces, kInWord, kInQuote };
  Phase phase = kInSpaces;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  unsigned char ch = 0;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    if (pos != line.size()) ch = static_cast<unsigned char>(line[pos]);
    if (phase == kInSpaces) {
      if (pos == line.size()) break;
      if (IsByteSpace(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') return line.substr(pos);
      phase = kInWord;
    }
    if (pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) flags->push_back(word);
      break;
    }
    if (phase == kInWord) {
      if (IsByteSpace(ch)) {
        phase = kInSpaces;
        if (word == "--") return line.substr(pos);
        if (blank_ok || !word.empty()) flags->push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = static_cast<char>(ch);
        blank_ok = true;
        phase = kInQuote;
        continue;
      }
      if (ch == static_cast<unsigned char>(escape_token)) {
        if (pos + 1 == line.size()) continue;
        ++pos;
        ch = static_cast<unsigned char>(line[pos]);
      }
      AppendByteRune(&word, ch);
      continue;
    }
    // kInQuote
    if (ch == static_cast<unsigned char>(quote)) {
      phase = kInWord;
      continue;
    }
    if (ch == static_cast<unsigned char>(escape_token)) {
      if (pos + 1 == line.size()) {
        phase = kInWord;
        continue;
      }
      ++pos;
      ch = static_cast<unsigned char>(line[pos]);
    }
    AppendByteRune(&word, ch);
  }
  return {};
}

}  // namespace

std::vector<std::string> ParseWords(std::string_view rest, char escape_token) {
  enum Phase { kInSpaces, kInWord, kInQuote };
  std::vector<std::string> words;
  Phase phase = kInSpaces;
  char32_t quote = 0;
  bool blank_ok = false;
  char32_t ch = 0;
  size_t width = 0;
  std::string word;
  const char32_t escape = static_cast<unsigned char>(escape_token);
  for (size_t pos = 0; pos <= rest.size(); pos += width) {
    if (pos != rest.size()) {
      DecodedRune d = DecodeRune(rest.substr(pos));
      ch = d.rune;
      width = d.width;
    }
    if (phase == kInSpaces) {
      if (pos == rest.size()) break;
      if (IsSpace(ch)) continue;
      phase = kInWord;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kInWord) {
      if (IsSpace(ch)) {
        phase = kInSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kInQuote;
      }
      if (ch == escape) {
        if (pos + width == rest.size()) continue;  // a trailing escape is dropped
        // Unquoted, the escape and the character after it are both kept.
        AppendRune(&word, ch);
        pos += width;
        DecodedRune d = DecodeRune(rest.substr(pos));
        ch = d.rune;
        width = d.width;
      }
      AppendRune(&word, ch);
      continue;
    }
    // kInQuote
    if (ch == quote) phase = kInWord;
    if (ch == escape && quote != '\'') {
      if (pos + width == rest.size()) {
        phase = kInWord;
        continue;
      }
      pos += width;
      AppendRune(&word, ch);
      DecodedRune d = DecodeRune(rest.substr(pos));
      ch = d.rune;
      width = d.width;
    }
    AppendRune(&word, ch);
  }
  return words;
}

SplitLine SplitCommand(std::string_view line, char escape_token) {
  SplitLine split;
  std::vector<std::string> parts = SplitWhitespace(TrimSpace(line), 2);
  split.command = parts[0];
  if (parts.size() == 2) {
    split.args = std::string(TrimSpace(ExtractBuilderFlags(parts[1], escape_token, &split.flags)));
  }
  return split;
}

Result<Node> NewNodeFromLine(std::string_view line, char escape_token,
                             std::vector<std::string> comments) {
  SplitLine split = SplitCommand(line, escape_token);
  HOIST_ASSIGN_OR_RETURN(Args args, LookUp(split.command)(split.args, escape_token));
  Node node;
  node.value = std::move(split.command);
  node.original = std::string(line);
  node.flags = std::move(split.flags);
  node.next = std::move(args.next);
  node.json = args.json;
  node.prev_comment = std::move(comments);
  return node;
}

bool CanContainHeredoc(const Node& node) {
  const Node* target = &node;
  if (ToLowerString(node.value) == "onbuild" && !node.next.empty() &&
      !node.next[0].children.empty()) {
    target = &node.next[0].children[0];
  }
  std::string keyword = ToLowerString(target->value);
  if (keyword != "add" && keyword != "copy" && keyword != "run") return false;
  return !target->json;
}

}  // namespace hoist::frontend::dockerfile::internal
