// Heredoc words: which `<<WORD` tokens open a here-document, the terminator's name, whether
// the body is expanded, and chomping. Follows BuildKit's parser.ParseHeredoc and
// heredocsFromLine.
#include <limits>

#include "frontend/dockerfile/internal/parser_heredoc_lex.h"
#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile {
namespace {

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

size_t CountQuotes(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (c == '\'' || c == '"') ? 1 : 0;
  return n;
}

}  // namespace

Result<std::optional<Heredoc>> ParseHeredoc(std::string_view word) {
  // The shape `^(\d*)<<(-?)\s*([^<]*)$`.
  size_t i = 0;
  uint64_t fd = 0;
  bool overflow = false;
  while (i < word.size() && IsAsciiDigit(word[i])) {
    uint64_t digit = static_cast<uint64_t>(word[i] - '0');
    if (fd > (std::numeric_limits<uint64_t>::max() - digit) / 10) overflow = true;
    fd = fd * 10 + digit;
    ++i;
  }
  // Go's ParseUint saturates on overflow and the parser keeps that value.
  if (overflow) fd = std::numeric_limits<uint64_t>::max();
  if (word.substr(i, 2) != "<<") return std::nullopt;
  i += 2;
  bool chomp = i < word.size() && word[i] == '-';
  if (chomp) ++i;
  while (i < word.size() && (word[i] == ' ' || word[i] == '\t' || word[i] == '\n' ||
                             word[i] == '\f' || word[i] == '\r')) {
    ++i;
  }
  std::string_view rest = word.substr(i);
  if (rest.find('<') != std::string_view::npos) return std::nullopt;
  if (rest.empty()) return std::nullopt;

  // Lexed once without and once with quotes: if the quote counts differ, part of the name was
  // quoted and the body is not expanded.
  HOIST_ASSIGN_OR_RETURN(
      std::vector<std::string> words,
      internal::LexHeredocWords(rest, {.raw_quotes = false, .raw_escapes = false}));
  if (words.size() != 1) return std::nullopt;
  HOIST_ASSIGN_OR_RETURN(
      std::vector<std::string> raw_words,
      internal::LexHeredocWords(rest, {.raw_quotes = true, .raw_escapes = false}));
  if (raw_words.size() != words.size()) {
    return MakeError(
        Code::kInvalidArgument,
        "internal lexing of heredoc produced inconsistent results: " + std::string(rest));
  }
  Heredoc heredoc;
  heredoc.name = words[0];
  heredoc.expand = CountQuotes(words[0]) == CountQuotes(raw_words[0]);
  heredoc.chomp = chomp;
  heredoc.file_descriptor = fd;
  return heredoc;
}

Result<std::vector<Heredoc>> HeredocsFromLine(std::string_view line) {
  // A line that does not lex (an unterminated quote) opens no heredocs, as in BuildKit.
  auto words = internal::LexHeredocWords(line, {.raw_quotes = true, .raw_escapes = true});
  std::vector<Heredoc> heredocs;
  if (!words) return heredocs;
  for (const std::string& word : *words) {
    HOIST_ASSIGN_OR_RETURN(std::optional<Heredoc> heredoc, ParseHeredoc(word));
    if (heredoc) heredocs.push_back(std::move(*heredoc));
  }
  return heredocs;
}

std::string ChompHeredocContent(std::string_view content) {
  std::string out;
  out.reserve(content.size());
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '\t') continue;
    line_start = c == '\n';
    out.push_back(c);
  }
  return out;
}

}  // namespace hoist::frontend::dockerfile
