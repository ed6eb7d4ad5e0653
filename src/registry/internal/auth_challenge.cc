#include "registry/internal/auth_challenge.h"

#include <cctype>

namespace hoist::registry::internal {
namespace {

bool IsTokenChar(char c) {
  // RFC 7230 tchar.
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  void SkipSpace() {
    while (!done() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  // Skips blanks and the commas that separate list elements.
  void SkipSeparators() {
    SkipSpace();
    while (peek() == ',') {
      Advance();
      SkipSpace();
    }
  }
  std::string_view Token() {
    size_t start = i_;
    while (!done() && IsTokenChar(s_[i_])) ++i_;
    return s_.substr(start, i_ - start);
  }
  // After the opening quote; stops after the closing one.
  std::string Quoted() {
    std::string out;
    while (!done()) {
      char c = s_[i_++];
      if (c == '"') return out;
      if (c == '\\' && !done()) c = s_[i_++];
      out.push_back(c);
    }
    return out;
  }
  void Advance() { ++i_; }
  size_t pos() const { return i_; }
  void Seek(size_t p) { i_ = p; }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::vector<AuthChallenge> ParseAuthChallenges(std::string_view header) {
  std::vector<AuthChallenge> out;
  Scanner sc(header);
  while (true) {
    sc.SkipSeparators();
    if (sc.done()) break;
    std::string_view scheme = sc.Token();
    if (scheme.empty()) {
      sc.Advance();  // junk: skip a character and look for the next challenge
      continue;
    }
    AuthChallenge ch{.scheme = Lower(scheme), .params = {}};
    // Parameters: name=value pairs separated by commas, until a bare token that starts the
    // next challenge (a token not followed by '=').
    while (true) {
      sc.SkipSeparators();
      if (sc.done()) break;
      const size_t mark = sc.pos();
      std::string_view name = sc.Token();
      sc.SkipSpace();
      if (name.empty() || sc.peek() != '=') {
        sc.Seek(mark);
        break;
      }
      sc.Advance();
      sc.SkipSpace();
      std::string value;
      if (sc.peek() == '"') {
        sc.Advance();
        value = sc.Quoted();
      } else {
        value = std::string(sc.Token());
      }
      ch.params[Lower(name)] = std::move(value);
    }
    out.push_back(std::move(ch));
  }
  return out;
}

}  // namespace hoist::registry::internal
