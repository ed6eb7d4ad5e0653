// The line loop of the parser: reading physical lines, parser directives, comments, line
// continuations (and the empty lines inside them), heredoc bodies and line numbers, as in
// BuildKit's parser.Parse. Per-instruction argument parsing is in
// internal/parser_line_parsers.cc.
#include "frontend/dockerfile/parser.h"

#include <fmt/format.h>

#include "frontend/dockerfile/directives.h"
#include "frontend/dockerfile/internal/parser_go_text.h"
#include "frontend/dockerfile/internal/parser_line_parsers.h"

namespace hoist::frontend::dockerfile {
namespace {

using internal::TrimLeftSpace;
using internal::TrimSpace;

constexpr std::string_view kEmptyContinuationDetail =
    "Empty continuation lines will become errors in a future release";
constexpr std::string_view kEmptyContinuationUrl =
    "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/";

// Physical lines, each with its line ending, as Go's bufio.Scanner with BuildKit's split
// function yields them: the scan stops at a line longer than the scanner's 64 KiB buffer.
class LineScanner {
 public:
  explicit LineScanner(std::string_view data) : data_(data) {}

  std::optional<std::string_view> Next() {
    if (too_long_ || pos_ >= data_.size()) return std::nullopt;
    size_t nl = data_.find('\n', pos_);
    size_t end = nl == std::string_view::npos ? data_.size() : nl + 1;
    // With a newline the buffer can hold the line and its newline; without one the last
    // byte of the buffer must stay free for the reader to report the end of input.
    size_t limit = nl == std::string_view::npos ? kMaxLineSize : kMaxLineSize + 1;
    if (end - pos_ > limit) {
      too_long_ = true;
      return std::nullopt;
    }
    std::string_view line = data_.substr(pos_, end - pos_);
    pos_ = end;
    return line;
  }

  bool too_long() const { return too_long_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  bool too_long_ = false;
};

std::string_view TrimNewline(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool IsComment(std::string_view line) {
  line = TrimLeftSpace(line);
  return !line.empty() && line[0] == '#';
}

bool IsEmptyContinuationLine(std::string_view line) {
  return TrimLeftSpace(TrimNewline(line)).empty();
}

tl::unexpected<Error> LocatedError(int line, std::string_view message) {
  if (line <= 0) return MakeError(Code::kInvalidArgument, fmt::format("Dockerfile: {}", message));
  return MakeError(Code::kInvalidArgument, fmt::format("Dockerfile:{}: {}", line, message));
}

class Parser {
 public:
  explicit Parser(std::string_view dockerfile) : scanner_(dockerfile) {}

  Result<ParseResult> Run();

 private:
  struct ProcessedLine {
    std::string_view text;
    bool directive = false;
  };

  // Strips the line ending (and, for the first line of an instruction, leading space), feeds
  // the directive parser, and drops comments.
  Result<ProcessedLine> ProcessLine(std::string_view line, bool strip_left_whitespace);

  // Removes a trailing line-continuation escape; true when the instruction goes on.
  bool TrimContinuation(std::string_view* line) const;

  Status ReadHeredocs(Node* child, std::string_view line, int start_line);

  LineScanner scanner_;
  DirectiveParser directives_;
  char escape_ = kDefaultEscapeToken;
  int current_line_ = 0;
};

Result<Parser::ProcessedLine> Parser::ProcessLine(std::string_view line,
                                                  bool strip_left_whitespace) {
  line = TrimNewline(line);
  if (strip_left_whitespace) line = TrimLeftSpace(line);
  ProcessedLine out;
  HOIST_ASSIGN_OR_RETURN(std::optional<Directive> directive, directives_.ParseLine(line));
  if (directive) {
    out.directive = true;
    if (directive->name == "escape") {
      if (directive->value != "`" && directive->value != "\\") {
        return MakeError(Code::kInvalidArgument,
                         "invalid escape token '" + directive->value + "' does not match ` or \\");
      }
      escape_ = directive->value[0];
    }
  }
  out.text = IsComment(line) ? std::string_view() : line;
  return out;
}

bool Parser::TrimContinuation(std::string_view* line) const {
  // BuildKit's pattern: an escape followed only by spaces and tabs at the end, either at the
  // start of the line or after a character that is not itself the escape.
  size_t end = line->size();
  while (end > 0 && ((*line)[end - 1] == ' ' || (*line)[end - 1] == '\t')) --end;
  if (end == 0 || (*line)[end - 1] != escape_) return false;
  size_t escape_at = end - 1;
  if (escape_at > 0 && (*line)[escape_at - 1] == escape_) return false;
  *line = line->substr(0, escape_at);
  return true;
}

Status Parser::ReadHeredocs(Node* child, std::string_view line, int start_line) {
  auto heredocs = HeredocsFromLine(line);
  if (!heredocs) return LocatedError(start_line, heredocs.error().message());
  for (Heredoc& heredoc : *heredocs) {
    bool terminated = false;
    std::string content = heredoc.content;
    while (auto raw = scanner_.Next()) {
      ++current_line_;
      std::string_view candidate = TrimNewline(*raw);
      if (heredoc.chomp) {
        while (!candidate.empty() && candidate[0] == '\t') candidate.remove_prefix(1);
      }
      if (candidate == heredoc.name) {
        terminated = true;
        break;
      }
      content.append(*raw);
    }
    if (!terminated) return LocatedError(start_line, "unterminated heredoc");
    heredoc.content = std::move(content);
    child->heredocs.push_back(std::move(heredoc));
  }
  return OkStatus();
}

Result<ParseResult> Parser::Run() {
  ParseResult result;
  Node& root = result.root;
  root.start_line = -1;
  std::vector<std::string> comments;

  while (auto raw = scanner_.Next()) {
    std::string_view bytes = *raw;
    if (current_line_ == 0 && bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
    if (IsComment(bytes)) {
      // As in BuildKit, the comment text is the line minus its first byte, trimmed.
      std::string_view comment = TrimSpace(bytes.substr(1));
      if (comment.empty()) {
        comments.clear();
      } else {
        comments.emplace_back(comment);
      }
    }
    auto processed = ProcessLine(bytes, true);
    // BuildKit reports this error one line early (before counting the line); we name the
    // line that holds the directive.
    if (!processed) return LocatedError(current_line_ + 1, processed.error().message());
    if (processed->directive && !comments.empty()) comments.pop_back();
    ++current_line_;

    const int start_line = current_line_;
    std::string_view text = processed->text;
    bool continues = TrimContinuation(&text);
    if (!continues && text.empty()) continue;
    std::string line(text);

    bool has_empty_continuation_line = false;
    while (continues) {
      auto next_raw = scanner_.Next();
      if (!next_raw) break;
      auto next = ProcessLine(*next_raw, false);
      if (!next) return LocatedError(current_line_ + 1, next.error().message());
      ++current_line_;
      if (IsComment(*next_raw)) continue;
      if (IsEmptyContinuationLine(next->text)) {
        has_empty_continuation_line = true;
        continue;
      }
      std::string_view part = next->text;
      continues = TrimContinuation(&part);
      line.append(part);
    }

    if (has_empty_continuation_line) {
      Warning warning;
      warning.short_message = "Empty continuation line found in: " + line;
      warning.detail.emplace_back(kEmptyContinuationDetail);
      warning.url = std::string(kEmptyContinuationUrl);
      warning.line = current_line_;
      result.warnings.push_back(std::move(warning));
    }

    auto child = internal::NewNodeFromLine(line, escape_, comments);
    if (!child) return LocatedError(start_line, child.error().message());
    if (internal::CanContainHeredoc(*child) && line.find("<<") != std::string::npos) {
      HOIST_TRY(ReadHeredocs(&*child, line, start_line));
    }
    child->start_line = start_line;
    child->end_line = current_line_;
    if (root.start_line < 0) root.start_line = start_line;
    root.end_line = current_line_;
    root.children.push_back(std::move(*child));
    comments.clear();
  }

  if (root.start_line < 0) return LocatedError(current_line_, "file with no instructions");
  if (scanner_.too_long()) {
    return LocatedError(
        current_line_ + 1,
        fmt::format("dockerfile line greater than max allowed size of {}", kMaxLineSize));
  }
  result.escape_token = escape_;
  return result;
}

}  // namespace

Result<ParseResult> Parse(std::string_view dockerfile) { return Parser(dockerfile).Run(); }

}  // namespace hoist::frontend::dockerfile
