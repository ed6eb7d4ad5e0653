#include "frontend/dockerfile/shell_lex.h"

#include <utility>

#include "frontend/dockerfile/internal/parser_go_text.h"
#include "frontend/dockerfile/internal/shell_pattern.h"

namespace hoist::frontend::dockerfile {
namespace {

using internal::AppendRune;
using internal::DecodedRune;
using internal::DecodeRune;
using internal::IsDigit;
using internal::IsLetter;
using internal::IsSpace;
using internal::ShellPattern;

constexpr char32_t kEof = 0xFFFFFFFF;

std::string RuneString(char32_t r) {
  std::string s;
  AppendRune(&s, r);
  return s;
}

// utf8.DecodeRuneInString at s[pos] (REQUIRES: pos < s.size()); returns the width.
size_t DecodeAt(std::string_view s, size_t pos, char32_t* rune) {
  const DecodedRune d = DecodeRune(s.substr(pos));
  *rune = d.rune;
  return d.width;
}

bool IsSpecialParam(char32_t r) {
  switch (r) {
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

bool IsHeredocSpace(char32_t r) { return r == '\t' || r == '\r' || r == ' '; }

// Collects words while text is expanded. Characters from quotes and escapes are "raw": they
// never split a word. A word boundary only closes a non-empty word, so "" alone adds nothing.
class WordCollector {
 public:
  void AddChar(char32_t r) {
    if (IsSpace(r)) {
      if (in_word_ && !buf_.empty()) {
        words_.push_back(std::move(buf_));
        buf_.clear();
        in_word_ = false;
      }
    } else {
      AddRawChar(r);
    }
  }
  void AddRawChar(char32_t r) {
    AppendRune(&buf_, r);
    in_word_ = true;
  }
  // Expanded values are split like unquoted text.
  void AddString(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      char32_t r;
      i += DecodeAt(s, i, &r);
      AddChar(r);
    }
  }
  void AddRawString(std::string_view s) {
    buf_.append(s);
    in_word_ = true;
  }
  std::vector<std::string> Take() {
    if (!buf_.empty()) words_.push_back(std::move(buf_));
    return std::move(words_);
  }

 private:
  std::string buf_;
  std::vector<std::string> words_;
  bool in_word_ = false;
};

struct Piece {
  std::string text;
  std::vector<std::string> words;
};

// One expansion: a rune scanner over the input (Go's text/scanner as BuildKit uses it: a
// leading BOM is skipped, an invalid byte reads as U+FFFD) and the recursive descent.
class Expander {
 public:
  Expander(const ShellLexOptions& options, const ShellEnv& env, std::string_view input,
           ShellWordResult* out)
      : options_(options), env_(env), input_(input), out_(out), raw_escapes_(options.raw_escapes) {
    if (input_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }

  Result<Piece> ProcessStopOn(char32_t stop, bool raw_escapes);

 private:
  char32_t Peek() const {
    if (pos_ >= input_.size()) return kEof;
    char32_t r;
    DecodeAt(input_, pos_, &r);
    return r;
  }
  char32_t Next() {
    if (pos_ >= input_.size()) return kEof;
    char32_t r;
    pos_ += DecodeAt(input_, pos_, &r);
    return r;
  }

  Result<std::string> ProcessSingleQuote();
  Result<std::string> ProcessDoubleQuote();
  Result<std::string> ProcessDollar();
  Result<std::string> ProcessBraced();
  std::string ProcessName();
  std::string ProcessPossibleHeredoc();
  std::optional<std::string> GetEnv(const std::string& name);

  const ShellLexOptions& options_;
  const ShellEnv& env_;
  std::string_view input_;
  ShellWordResult* out_;
  size_t pos_ = 0;
  bool raw_escapes_;
};

Result<Piece> Expander::ProcessStopOn(char32_t stop, bool raw_escapes) {
  // Patterns of ${v#p} and ${v/p/r} keep their escapes for the pattern compiler; the
  // override lasts for this nesting level only.
  struct Restore {
    bool* flag;
    bool saved;
    ~Restore() { *flag = saved; }
  } restore{&raw_escapes_, raw_escapes_};
  raw_escapes_ = raw_escapes;

  std::string result;
  WordCollector words;
  while (Peek() != kEof) {
    char32_t ch = Peek();
    if (stop != kEof && ch == stop) {
      Next();
      return Piece{std::move(result), words.Take()};
    }
    if (ch == '$') {
      HOIST_ASSIGN_OR_RETURN(std::string tmp, ProcessDollar());
      result += tmp;
      words.AddString(tmp);
    } else if (ch == '<') {
      std::string tmp = ProcessPossibleHeredoc();
      result += tmp;
      words.AddRawString(tmp);
    } else if (!options_.skip_process_quotes && (ch == '\'' || ch == '"')) {
      HOIST_ASSIGN_OR_RETURN(std::string tmp,
                             ch == '\'' ? ProcessSingleQuote() : ProcessDoubleQuote());
      result += tmp;
      words.AddRawString(tmp);
    } else {
      ch = Next();
      if (ch == options_.escape_token) {
        if (raw_escapes_) {
          words.AddRawChar(ch);
          AppendRune(&result, ch);
        }
        // The escape token quotes the next character; at the end of input it is dropped.
        ch = Next();
        if (ch == kEof) break;
        words.AddRawChar(ch);
      } else {
        words.AddChar(ch);
      }
      AppendRune(&result, ch);
    }
  }
  if (stop != kEof) {
    return MakeError(Code::kInvalidArgument,
                     "unexpected end of statement while looking for matching " + RuneString(stop));
  }
  return Piece{std::move(result), words.Take()};
}

Result<std::string> Expander::ProcessSingleQuote() {
  // Everything up to the next ' is literal; there is no way to escape a ' inside.
  std::string result;
  char32_t ch = Next();
  if (options_.raw_quotes) AppendRune(&result, ch);
  while (true) {
    ch = Next();
    if (ch == kEof) {
      return MakeError(Code::kInvalidArgument,
                       "unexpected end of statement while looking for matching single-quote");
    }
    if (ch == '\'') {
      if (options_.raw_quotes) AppendRune(&result, ch);
      return result;
    }
    AppendRune(&result, ch);
  }
}

Result<std::string> Expander::ProcessDoubleQuote() {
  // Literal except for $ expansions; the escape token quotes only ", $ and itself and is kept
  // before any other character.
  std::string result;
  char32_t ch = Next();
  if (options_.raw_quotes) AppendRune(&result, ch);
  while (true) {
    const char32_t peek = Peek();
    if (peek == kEof) {
      return MakeError(Code::kInvalidArgument,
                       "unexpected end of statement while looking for matching double-quote");
    }
    if (peek == '"') {
      ch = Next();
      if (options_.raw_quotes) AppendRune(&result, ch);
      return result;
    }
    if (peek == '$') {
      HOIST_ASSIGN_OR_RETURN(std::string value, ProcessDollar());
      result += value;
      continue;
    }
    ch = Next();
    if (ch == options_.escape_token) {
      if (raw_escapes_) AppendRune(&result, ch);
      const char32_t next = Peek();
      if (next == kEof) continue;  // reported as the missing closing quote above
      if (next == '"' || next == '$' || next == options_.escape_token) ch = Next();
    }
    AppendRune(&result, ch);
  }
}

Result<std::string> Expander::ProcessDollar() {
  Next();  // '$'
  if (Peek() != '{') {
    std::string name = ProcessName();
    if (name.empty()) return std::string("$");
    std::optional<std::string> value = GetEnv(name);
    if (!value && options_.skip_unset_env) return "$" + name;
    return value.value_or("");
  }
  Next();  // '{'
  return ProcessBraced();
}

Result<std::string> Expander::ProcessBraced() {
  const char32_t first = Peek();
  if (first == kEof) return MakeError(Code::kInvalidArgument, "syntax error: missing '}'");
  if (first == '{' || first == '}' || first == ':') {
    return MakeError(Code::kInvalidArgument, "syntax error: bad substitution");
  }
  const std::string name = ProcessName();
  char32_t ch = Next();
  if (ch == kEof) return MakeError(Code::kInvalidArgument, "syntax error: missing '}'");
  std::string chs = RuneString(ch);

  if (ch == '}') {
    std::optional<std::string> value = GetEnv(name);
    if (!value && options_.skip_unset_env) return "${" + name + "}";
    return value.value_or("");
  }

  if (ch == '/') {
    const bool replace_all = Peek() == '/';
    if (replace_all) Next();
    Result<Piece> pattern = ProcessStopOn('/', true);
    if (!pattern) {
      if (Peek() == kEof) {
        return MakeError(Code::kInvalidArgument, "syntax error: missing '/' in ${}");
      }
      return Unexpected(std::move(pattern).error());
    }
    Result<Piece> replacement = ProcessStopOn('}', true);
    if (!replacement) {
      if (Peek() == kEof) return MakeError(Code::kInvalidArgument, "syntax error: missing '}'");
      return Unexpected(std::move(replacement).error());
    }
    std::optional<std::string> value = GetEnv(name);
    if (!value && options_.skip_unset_env) {
      // Upstream writes a single '/' back even for '//'; kept so both passes agree.
      return "${" + name + "/" + pattern->text + "/" + replacement->text + "}";
    }
    Result<ShellPattern> re = ShellPattern::Compile(pattern->text, /*greedy=*/true,
                                                    /*anchored=*/false);
    if (!re) {
      return MakeError(Code::kInvalidArgument, "invalid pattern (" + pattern->text +
                                                   ") in substitution: " + re.error().message());
    }
    std::string v = value.value_or("");
    if (replace_all) return re->ReplaceAll(v, replacement->text);
    if (auto m = re->Find(v)) v = v.substr(0, m->first) + replacement->text + v.substr(m->second);
    return v;
  }

  bool null_is_unset = false;
  if (ch == ':') {
    null_is_unset = true;
    ch = Next();
    if (ch != kEof) chs += RuneString(ch);
  } else if (ch != '+' && ch != '-' && ch != '?' && ch != '#' && ch != '%') {
    return MakeError(Code::kInvalidArgument, "unsupported modifier (" + chs + ") in substitution");
  }

  const bool trims = ch == '#' || ch == '%';
  if (null_is_unset && trims) {
    return MakeError(Code::kInvalidArgument, "unsupported modifier (" + chs + ") in substitution");
  }
  Result<Piece> word_piece = ProcessStopOn('}', trims);
  if (!word_piece) {
    if (Peek() == kEof) return MakeError(Code::kInvalidArgument, "syntax error: missing '}'");
    return Unexpected(std::move(word_piece).error());
  }
  std::string word = std::move(word_piece->text);

  std::optional<std::string> value = GetEnv(name);
  if (!value && options_.skip_unset_env) return "${" + name + chs + word + "}";
  const bool empty_or_unset = !value || (null_is_unset && value->empty());

  switch (ch) {
    case '-':
      return empty_or_unset ? word : *value;
    case '+':
      return empty_or_unset ? std::string() : word;
    case '?': {
      if (!value || (null_is_unset && value->empty())) {
        std::string message = word;
        if (message.empty()) {
          message = value ? "is not allowed to be empty" : "is not allowed to be unset";
        }
        return MakeError(Code::kInvalidArgument, name + ": " + message);
      }
      return *value;
    }
    case '#':
    case '%': {
      // One # or % takes the shortest match, a doubled one the longest.
      bool greedy = false;
      if (!word.empty() && static_cast<unsigned char>(word[0]) == ch) {
        greedy = true;
        word.erase(0, 1);
      }
      std::string subject = value.value_or("");
      // A suffix match runs as a prefix match on the reversed pattern and text, because a
      // leftmost matcher cannot ask for the shortest match that ends at the end.
      if (ch == '%') {
        word = internal::ReverseShellPattern(word);
        subject = internal::ReverseRunes(subject);
      }
      Result<ShellPattern> re = ShellPattern::Compile(word, greedy, /*anchored=*/true);
      if (!re) {
        return MakeError(Code::kInvalidArgument,
                         "invalid pattern (" + word + ") in substitution: " + re.error().message());
      }
      if (auto m = re->Find(subject)) subject.erase(0, m->second);
      if (ch == '%') subject = internal::ReverseRunes(subject);
      return subject;
    }
    default:
      return MakeError(Code::kInvalidArgument,
                       "unsupported modifier (" + chs + ") in substitution");
  }
}

std::string Expander::ProcessName() {
  // A name is letters, digits and '_'; a leading digit takes only digits (positional
  // parameters) and a special parameter ($@, $#, ...) is one character.
  std::string name;
  while (Peek() != kEof) {
    char32_t ch = Peek();
    if (name.empty() && IsDigit(ch)) {
      while (Peek() != kEof && IsDigit(Peek())) AppendRune(&name, Next());
      return name;
    }
    if (name.empty() && IsSpecialParam(ch)) {
      Next();
      return RuneString(ch);
    }
    if (!IsLetter(ch) && !IsDigit(ch) && ch != '_') break;
    AppendRune(&name, Next());
  }
  return name;
}

std::string Expander::ProcessPossibleHeredoc() {
  // "<<" and the blanks after it stay glued to the heredoc word that follows, so the parser
  // can find "<<EOF" as one word.
  Next();
  if (Peek() != '<') return "<";
  Next();
  std::string result = "<<";
  while (IsHeredocSpace(Peek())) AppendRune(&result, Next());
  return result;
}

std::optional<std::string> Expander::GetEnv(const std::string& name) {
  std::optional<std::string_view> value = env_.Get(name);
  if (value) {
    out_->matched.insert(name);
    return std::string(*value);
  }
  out_->unmatched.insert(name);
  return std::nullopt;
}

}  // namespace

ShellEnvList::ShellEnvList(const std::vector<std::string>& entries, EnvNameCase name_case)
    : name_case_(name_case) {
  keys_.reserve(entries.size());
  for (const std::string& e : entries) {
    const size_t eq = e.find('=');
    std::string key = e.substr(0, eq);
    std::string value = eq == std::string::npos ? std::string() : e.substr(eq + 1);
    values_[Normalize(key)] = std::move(value);
    keys_.push_back(std::move(key));
  }
}

std::string ShellEnvList::Normalize(std::string_view name) const {
  std::string key(name);
  if (name_case_ == EnvNameCase::kInsensitive) {
    // ASCII only: variable names outside ASCII are not seen in Windows Dockerfiles.
    for (char& c : key) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return key;
}

std::optional<std::string_view> ShellEnvList::Get(std::string_view name) const {
  auto it = values_.find(Normalize(name));
  if (it == values_.end()) return std::nullopt;
  return std::string_view(it->second);
}

Result<ShellWordResult> ShellLex::Process(std::string_view word, const ShellEnv& env) const {
  ShellWordResult out;
  Expander expander(options_, env, word, &out);
  Result<Piece> piece = expander.ProcessStopOn(kEof, options_.raw_escapes);
  if (!piece) {
    return Unexpected(std::move(piece).error().Wrap("failed to process " + internal::Quote(word)));
  }
  out.result = std::move(piece->text);
  out.words = std::move(piece->words);
  return out;
}

Result<std::string> ShellLex::ProcessWord(std::string_view word, const ShellEnv& env) const {
  HOIST_ASSIGN_OR_RETURN(ShellWordResult r, Process(word, env));
  return std::move(r.result);
}

Result<std::vector<std::string>> ShellLex::ProcessWords(std::string_view word,
                                                        const ShellEnv& env) const {
  HOIST_ASSIGN_OR_RETURN(ShellWordResult r, Process(word, env));
  return std::move(r.words);
}

}  // namespace hoist::frontend::dockerfile
