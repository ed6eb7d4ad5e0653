#include "frontend/dockerfile/internal/parser_json.h"

#include <charconv>

#include "frontend/dockerfile/internal/parser_go_text.h"

namespace hoist::frontend::dockerfile::internal {
namespace {

// Go's decoder refuses documents nested deeper than this.
constexpr int kMaxNestingDepth = 10000;

class JsonDecoder {
 public:
  explicit JsonDecoder(std::string_view text) : text_(text) {}

  std::optional<JsonValue> Decode() {
    JsonValue value;
    SkipSpace();
    if (!ParseValue(&value, 0)) return std::nullopt;
    SkipSpace();
    if (pos_ != text_.size()) return std::nullopt;
    return value;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view literal) {
    if (text_.substr(pos_, literal.size()) != literal) return false;
    pos_ += literal.size();
    return true;
  }

  bool ParseValue(JsonValue* out, int depth) {
    if (pos_ >= text_.size()) return false;
    switch (text_[pos_]) {
      case '[':
        return ParseArray(out, depth + 1);
      case '{':
        return ParseObject(out, depth + 1);
      case '"':
        out->kind = JsonValue::Kind::kString;
        return ParseString(&out->string);
      case 't':
        out->kind = JsonValue::Kind::kBool;
        return Consume("true");
      case 'f':
        out->kind = JsonValue::Kind::kBool;
        return Consume("false");
      case 'n':
        out->kind = JsonValue::Kind::kNull;
        return Consume("null");
      default:
        out->kind = JsonValue::Kind::kNumber;
        return ParseNumber();
    }
  }

  bool ParseArray(JsonValue* out, int depth) {
    if (depth > kMaxNestingDepth) return false;
    out->kind = JsonValue::Kind::kArray;
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      JsonValue item;
      SkipSpace();
      if (!ParseValue(&item, depth)) return false;
      out->items.push_back(std::move(item));
      SkipSpace();
      if (pos_ >= text_.size()) return false;
      char c = text_[pos_++];
      if (c == ']') return true;
      if (c != ',') return false;
    }
  }

  bool ParseObject(JsonValue* out, int depth) {
    if (depth > kMaxNestingDepth) return false;
    out->kind = JsonValue::Kind::kObject;
    ++pos_;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return false;
      std::string key;
      if (!ParseString(&key)) return false;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_++] != ':') return false;
      SkipSpace();
      JsonValue value;
      if (!ParseValue(&value, depth)) return false;
      out->members.push_back(JsonMember{std::move(key), std::move(value)});
      SkipSpace();
      if (pos_ >= text_.size()) return false;
      char c = text_[pos_++];
      if (c == '}') return true;
      if (c != ',') return false;
    }
  }

  static bool IsDigitChar(char c) { return c >= '0' && c <= '9'; }

  // JSON number grammar; a number that overflows float64 fails as Go's conversion does
  // (underflow to zero is accepted there too).
  bool ParseNumber() {
    size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (pos_ >= text_.size()) return false;
    int int_digits = 0;
    if (text_[pos_] == '0') {
      ++pos_;
    } else if (IsDigitChar(text_[pos_])) {
      bool leading = true;
      while (pos_ < text_.size() && IsDigitChar(text_[pos_])) {
        if (text_[pos_] != '0') leading = false;
        if (!leading) ++int_digits;
        ++pos_;
      }
    } else {
      return false;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (pos_ >= text_.size() || !IsDigitChar(text_[pos_])) return false;
      while (pos_ < text_.size() && IsDigitChar(text_[pos_])) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (pos_ >= text_.size() || !IsDigitChar(text_[pos_])) return false;
      while (pos_ < text_.size() && IsDigitChar(text_[pos_])) ++pos_;
    }
    std::string_view number = text_.substr(start, pos_ - start);
    double value = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec == std::errc::result_out_of_range) {
      // Out of range is either overflow (an error in Go) or underflow (zero, accepted). The
      // sign of the decimal exponent tells them apart.
      long exponent = int_digits;
      size_t e = number.find_first_of("eE");
      if (e != std::string_view::npos) {
        std::string_view digits = number.substr(e + 1);
        bool negative = !digits.empty() && digits[0] == '-';
        if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
        long exp = 0;
        for (char c : digits) {
          exp = std::min<long>(exp * 10 + (c - '0'), 1000000);
        }
        exponent += negative ? -exp : exp;
      }
      if (int_digits == 0 && e == std::string_view::npos) return true;
      return exponent <= 0;
    }
    return ec == std::errc();
  }

  static int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // Reads four hex digits at pos_; -1 if they are not there.
  int ReadHex4(size_t at) const {
    if (at + 4 > text_.size()) return -1;
    int v = 0;
    for (size_t i = 0; i < 4; ++i) {
      int h = HexValue(text_[at + i]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  }

  bool ParseString(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (pos_ >= text_.size()) return false;
      unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) return false;
        char e = text_[pos_ + 1];
        pos_ += 2;
        switch (e) {
          case '"':
            out->push_back('"');
            break;
          case '\\':
            out->push_back('\\');
            break;
          case '/':
            out->push_back('/');
            break;
          case 'b':
            out->push_back('\b');
            break;
          case 'f':
            out->push_back('\f');
            break;
          case 'n':
            out->push_back('\n');
            break;
          case 'r':
            out->push_back('\r');
            break;
          case 't':
            out->push_back('\t');
            break;
          case 'u': {
            int r = ReadHex4(pos_);
            if (r < 0) return false;
            pos_ += 4;
            char32_t rune = static_cast<char32_t>(r);
            if (rune >= 0xD800 && rune < 0xE000) {
              // A high surrogate followed by an escaped low one forms a pair; anything
              // else becomes U+FFFD and the following escape is read on its own.
              int low = -1;
              if (rune < 0xDC00 && text_.substr(pos_, 2) == "\\u") low = ReadHex4(pos_ + 2);
              if (low >= 0xDC00 && low < 0xE000) {
                rune = 0x10000 + ((rune - 0xD800) << 10) + (static_cast<char32_t>(low) - 0xDC00);
                pos_ += 6;
              } else {
                rune = kRuneError;
              }
            }
            AppendRune(out, rune);
            break;
          }
          default:
            return false;
        }
        continue;
      }
      if (c < 0x80) {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      DecodedRune d = DecodeRune(text_.substr(pos_));
      AppendRune(out, d.rune);  // an invalid byte is kept as U+FFFD
      pos_ += d.width;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<JsonValue> DecodeJson(std::string_view text) { return JsonDecoder(text).Decode(); }

}  // namespace hoist::frontend::dockerfile::internal
