#include "base/utf8.h"

namespace hoist {
namespace {

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

size_t DecodeRuneAt(std::string_view s, size_t pos, char32_t* rune) {
  const DecodedRune d = DecodeRune(s.substr(pos));
  *rune = d.rune;
  return d.width;
}

bool IsValidUtf8(std::string_view s, size_t* bad) {
  for (size_t i = 0; i < s.size();) {
    char32_t r;
    const size_t w = DecodeRuneAt(s, i, &r);
    if (r == kRuneError && w == 1) {
      if (bad != nullptr) *bad = i;
      return false;
    }
    i += w;
  }
  return true;
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

}  // namespace hoist
