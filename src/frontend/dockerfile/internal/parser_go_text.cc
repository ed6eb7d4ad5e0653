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

bool IsContinuation(unsigned char b, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
  return b >= lo && b <= hi;
}

}  // namespace

DecodedRune DecodeRune(std::string_view s) {
  if (s.empty()) return {kRuneError, 0};
  auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char b0 = b(0);
  if (b0 < 0x80) return {b0, 1};
  const DecodedRune bad{kRuneError, 1};
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (s.size() < 2 || !IsContinuation(b(1))) return bad;
    return {static_cast<char32_t>((b0 & 0x1F) << 6 | (b(1) & 0x3F)), 2};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    unsigned char lo = b0 == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = b0 == 0xED ? 0x9F : 0xBF;
    if (s.size() < 3 || !IsContinuation(b(1), lo, hi) || !IsContinuation(b(2))) return bad;
    return {static_cast<char32_t>((b0 & 0x0F) << 12 | (b(1) & 0x3F) << 6 | (b(2) & 0x3F)), 3};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    unsigned char lo = b0 == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (s.size() < 4 || !IsContinuation(b(1), lo, hi) || !IsContinuation(b(2)) ||
        !IsContinuation(b(3))) {
      return bad;
    }
    return {static_cast<char32_t>((b0 & 0x07) << 18 | (b(1) & 0x3F) << 12 | (b(2) & 0x3F) << 6 |
                                  (b(3) & 0x3F)),
            4};
  }
  return bad;
}

void AppendRune(std::string* out, char32_t r) {
  if ((r >= 0xD800 && r <= 0xDFFF) || r > 0x10FFFF) r = kRuneError;
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

bool IsSpace(char32_t r) {
  if (r <= 0xFF) return IsByteSpace(static_cast<unsigned char>(r));
  return r == 0x1680 || (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 || r == 0x202F ||
         r == 0x205F || r == 0x3000;
}

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

std::string_view TrimLeftSpace(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    DecodedRune d = DecodeRune(s.substr(i));
    if (!IsSpace(d.rune) || (d.rune == kRuneError && d.width == 1)) break;
    i += d.width;
  }
  return s.substr(i);
}

std::string_view TrimRightSpace(std::string_view s) {
  // Decoding forwards finds the same rune boundaries as Go's DecodeLastRune for every input
  // that can end in a space, and keeps the code simple.
  size_t keep = 0;
  size_t i = 0;
  while (i < s.size()) {
    DecodedRune d = DecodeRune(s.substr(i));
    i += d.width;
    if (!IsSpace(d.rune) || (d.rune == kRuneError && d.width == 1)) keep = i;
  }
  return s.substr(0, keep);
}

std::string_view TrimSpace(std::string_view s) { return TrimRightSpace(TrimLeftSpace(s)); }

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

size_t DecodeRuneAt(std::string_view s, size_t pos, char32_t* rune) {
  const DecodedRune d = DecodeRune(s.substr(pos));
  *rune = d.rune;
  return d.width;
}

std::vector<char32_t> DecodeRunes(std::string_view s) {
  std::vector<char32_t> runes;
  runes.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t r;
    i += DecodeRuneAt(s, i, &r);
    runes.push_back(r);
  }
  return runes;
}

}  // namespace hoist::frontend::dockerfile::internal
