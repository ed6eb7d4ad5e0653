#include "frontend/dockerfile/internal/parser_heredoc_lex.h"

#include <cstdint>

#include "frontend/dockerfile/internal/parser_go_text.h"

namespace hoist::frontend::dockerfile::internal {
namespace {

constexpr int32_t kEof = -1;
constexpr int32_t kEscape = '\\';

std::string RuneString(int32_t r) {
  std::string s;
  AppendRune(&s, r < 0 ? kRuneError : static_cast<char32_t>(r));
  return s;
}

tl::unexpected<Error> LexError(std::string message) {
  return MakeError(Code::kInvalidArgument, std::move(message));
}

// Words as they accumulate. The pending word lives in the lexer (shared by nested scans, as
// in BuildKit, where a nested `${...}` scan resets it); this holds the finished ones.
struct Words {
  std::string* buf;
  std::vector<std::string> words;
  bool in_word = false;

  void AddChar(char32_t ch) {
    if (IsSpace(ch) && in_word) {
      if (!buf->empty()) {
        words.push_back(*buf);
        buf->clear();
        in_word = false;
      }
    } else if (!IsSpace(ch)) {
      AddRawChar(ch);
    }
  }
  void AddRawChar(char32_t ch) {
    AppendRune(buf, ch);
    in_word = true;
  }
  void AddString(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      DecodedRune d = DecodeRune(s.substr(i));
      AddChar(d.rune);
      i += d.width;
    }
  }
  void AddRawString(std::string_view s) {
    buf->append(s);
    in_word = true;
  }
  std::vector<std::string> Take() {
    if (!buf->empty()) {
      words.push_back(*buf);
      buf->clear();
      in_word = false;
    }
    return std::move(words);
  }
};

struct Scanned {
  std::string result;
  std::vector<std::string> words;
};

class HeredocLexer {
 public:
  HeredocLexer(std::string_view input, HeredocLexOptions options)
      : raw_quotes_(options.raw_quotes), raw_escapes_(options.raw_escapes) {
    for (size_t i = 0; i < input.size();) {
      DecodedRune d = DecodeRune(input.substr(i));
      runes_.push_back(static_cast<int32_t>(d.rune));
      i += d.width;
    }
    // Go's text/scanner skips a byte order mark at the start of its input.
    if (!runes_.empty() && runes_[0] == 0xFEFF) pos_ = 1;
  }

  Result<Scanned> ScanUntil(int32_t stop, bool raw_escapes) {
    bool saved = raw_escapes_;
    raw_escapes_ = raw_escapes;
    auto result = ScanUntilImpl(stop);
    raw_escapes_ = saved;
    return result;
  }

 private:
  int32_t Peek() const { return pos_ < runes_.size() ? runes_[pos_] : kEof; }
  int32_t Next() { return pos_ < runes_.size() ? runes_[pos_++] : kEof; }

  Result<Scanned> ScanUntilImpl(int32_t stop) {
    std::string result;
    pending_.clear();
    Words words{&pending_, {}, false};
    while (Peek() != kEof) {
      int32_t ch = Peek();
      if (stop != kEof && ch == stop) {
        Next();
        return Scanned{std::move(result), words.Take()};
      }
      if (ch == '$' || ch == '<' || ch == '\'' || ch == '"') {
        std::string piece;
        if (ch == '$') {
          HOIST_ASSIGN_OR_RETURN(piece, Dollar());
        } else if (ch == '<') {
          piece = PossibleHeredoc();
        } else if (ch == '\'') {
          HOIST_ASSIGN_OR_RETURN(piece, SingleQuote());
        } else {
          HOIST_ASSIGN_OR_RETURN(piece, DoubleQuote());
        }
        result += piece;
        if (ch == '$') {
          words.AddString(piece);
        } else {
          words.AddRawString(piece);
        }
        continue;
      }
      ch = Next();
      if (ch == kEscape) {
        if (raw_escapes_) {
          words.AddRawChar(ch);
          AppendRune(&result, ch);
        }
        ch = Next();
        if (ch == kEof) break;
        words.AddRawChar(ch);
      } else {
        words.AddChar(ch);
      }
      AppendRune(&result, ch);
    }
    if (stop != kEof) {
      return LexError("unexpected end of statement while looking for matching " + RuneString(stop));
    }
    return Scanned{std::move(result), words.Take()};
  }

  Result<std::string> SingleQuote() {
    std::string out;
    int32_t ch = Next();
    if (raw_quotes_) AppendRune(&out, ch);
    while (true) {
      ch = Next();
      if (ch == kEof) {
        return LexError("unexpected end of statement while looking for matching single-quote");
      }
      if (ch == '\'') {
        if (raw_quotes_) AppendRune(&out, ch);
        return out;
      }
      AppendRune(&out, ch);
    }
  }

  Result<std::string> DoubleQuote() {
    std::string out;
    int32_t ch = Next();
    if (raw_quotes_) AppendRune(&out, ch);
    while (true) {
      int32_t peek = Peek();
      if (peek == kEof) {
        return LexError("unexpected end of statement while looking for matching double-quote");
      }
      if (peek == '"') {
        ch = Next();
        if (raw_quotes_) AppendRune(&out, ch);
        return out;
      }
      if (peek == '$') {
        HOIST_ASSIGN_OR_RETURN(std::string value, Dollar());
        out += value;
        continue;
      }
      ch = Next();
      if (ch == kEscape) {
        if (raw_escapes_) AppendRune(&out, ch);
        int32_t after = Peek();
        if (after == kEof) continue;  // a trailing escape is dropped
        if (after == '"' || after == '$' || after == kEscape) ch = Next();
      }
      AppendRune(&out, ch);
    }
  }

  // `$name` and `${...}`: with no variable set, each form comes back as written (after its
  // nested words are processed).
  Result<std::string> Dollar() {
    Next();
    if (Peek() != '{') {
      std::string name = Name();
      return "$" + name;
    }
    Next();
    int32_t peek = Peek();
    if (peek == kEof) return LexError("syntax error: missing '}'");
    if (peek == '{' || peek == '}' || peek == ':')
      return LexError("syntax error: bad substitution");
    std::string name = Name();
    int32_t ch = Next();
    std::string chs = RuneString(ch);
    bool null_is_unset = false;
    switch (ch) {
      case '}':
        return "${" + name + "}";
      case ':':
        null_is_unset = true;
        ch = Next();
        chs += RuneString(ch);
        [[fallthrough]];
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        bool raw = ch == '#' || ch == '%';
        if (null_is_unset && raw) {
          return LexError("unsupported modifier (" + chs + ") in substitution");
        }
        auto word = ScanUntil('}', raw);
        if (!word) {
          if (Peek() == kEof) return LexError("syntax error: missing '}'");
          return tl::unexpected(std::move(word).error());
        }
        return "${" + name + chs + word->result + "}";
      }
      case '/': {
        if (Peek() == '/') Next();
        auto pattern = ScanUntil('/', true);
        if (!pattern) {
          if (Peek() == kEof) return LexError("syntax error: missing '/' in ${}");
          return tl::unexpected(std::move(pattern).error());
        }
        auto replacement = ScanUntil('}', true);
        if (!replacement) {
          if (Peek() == kEof) return LexError("syntax error: missing '}'");
          return tl::unexpected(std::move(replacement).error());
        }
        return "${" + name + "/" + pattern->result + "/" + replacement->result + "}";
      }
      default:
        return LexError("unsupported modifier (" + chs + ") in substitution");
    }
  }

  static bool IsSpecialParam(int32_t ch) {
    switch (ch) {
      case '@':
      case '*':
      case '#':
      case '?':
      case '-':
      case '$':
      case '!':
      case '0':
        return true;
      default:
        return false;
    }
  }

  std::string Name() {
    std::string name;
    while (Peek() != kEof) {
      int32_t ch = Peek();
      if (name.empty() && IsDigit(ch)) {
        while (Peek() != kEof && IsDigit(Peek())) AppendRune(&name, Next());
        return name;
      }
      if (name.empty() && IsSpecialParam(ch)) {
        AppendRune(&name, Next());
        return name;
      }
      if (!IsLetter(ch) && !IsDigit(ch) && ch != '_') break;
      AppendRune(&name, Next());
    }
    return name;
  }

  std::string PossibleHeredoc() {
    Next();
    if (Peek() != '<') return "<";
    Next();
    std::string out = "<<";
    while (Peek() == '\t' || Peek() == '\r' || Peek() == ' ') AppendRune(&out, Next());
    return out;
  }

  std::vector<int32_t> runes_;
  size_t pos_ = 0;
  bool raw_quotes_;
  bool raw_escapes_;
  std::string pending_;
};

}  // namespace

Result<std::vector<std::string>> LexHeredocWords(std::string_view word, HeredocLexOptions options) {
  HeredocLexer lexer(word, options);
  auto scanned = lexer.ScanUntil(kEof, options.raw_escapes);
  if (!scanned) {
    return MakeError(Code::kInvalidArgument,
                     "failed to process " + Quote(word) + ": " + scanned.error().message());
  }
  return std::move(scanned->words);
}

}  // namespace hoist::frontend::dockerfile::internal
