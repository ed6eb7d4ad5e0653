#include "frontend/dockerfile/internal/parser_go_text.h"

#include <algorithm>

namespace hoist::frontend::dockerfile::internal {
namespace {

bool InRanges(const CodePointRange* ranges, int count, char32_t r) {
  const CodePointRange* end = ranges + count;
  const CodePointRange* it = std::upper_bound(
      ranges, end, r, [](char32_t v, const CodePointRange& c) { return v < c.lo; });
  if (it == ranges) return false;
  --it;
  return r >= it->lo && r <= it->hi;
}

}  // namespace

bool IsPrint(char32_t r) { return InRanges(kPrintableRanges, kPrintableRangeCount, r); }
bool IsLetter(char32_t r) {
  if (r < 0x80) return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
  return InRanges(kLetterRanges, kLetterRangeCount, r);
}
bool IsDigit(char32_t r) {
  if (r < 0x80) return r >= '0' && r <= '9';
  return InRanges(kDigitRanges, kDigitRangeCount, r);
}

char32_t ToLower(char32_t r) {
  if (r < 0x80) return (r >= 'A' && r <= 'Z') ? r + 32 : r;
  const LowerRun* end = kLowerRuns + kLowerRunCount;
  const LowerRun* it = std::upper_bound(kLowerRuns, end, r,
                                        [](char32_t v, const LowerRun& run) { return v < run.lo; });
  if (it == kLowerRuns) return r;
  --it;
  if (r > it->hi || (r - it->lo) % it->stride != 0) return r;
  return static_cast<char32_t>(static_cast<int64_t>(r) + it->delta);
}


std::string ToLowerString(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool ascii = std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
  if (ascii) {
    for (char c : s) out.push_back(static_cast<char>(ToLower(static_cast<unsigned char>(c))));
    return out;
  }
  for (size_t i = 0; i < s.size();) {
    DecodedRune d = DecodeRune(s.substr(i));
    AppendRune(&out, ToLower(d.rune));
    i += d.width;
  }
  return out;
}

std::string Quote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    DecodedRune d = DecodeRune(s.substr(i));
    unsigned char first = static_cast<unsigned char>(s[i]);
    i += d.width;
    if (d.width == 1 && d.rune == kRuneError) {
      out += "\\x";
      out.push_back(kHex[first >> 4]);
      out.push_back(kHex[first & 0xF]);
      continue;
    }
    char32_t r = d.rune;
    if (r == '"' || r == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(r));
      continue;
    }
    if (IsPrint(r)) {
      AppendRune(&out, r);
      continue;
    }
    switch (r) {
      case '\a':
        out += "\\a";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\v':
        out += "\\v";
        continue;
      default:
        break;
    }
    if (r < ' ' || r == 0x7F) {
      out += "\\x";
      out.push_back(kHex[(r >> 4) & 0xF]);
      out.push_back(kHex[r & 0xF]);
    } else if (r < 0x10000) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHex[(r >> shift) & 0xF]);
    } else {
      out += "\\U";
      for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kHex[(r >> shift) & 0xF]);
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace hoist::frontend::dockerfile::internal
