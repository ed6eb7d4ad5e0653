// UTF-8 and white space exactly as Go's standard library treats them (utf8.DecodeRune,
// utf8.AppendRune, unicode.IsSpace, strings.TrimSpace). Code that must reproduce Go tools'
// output byte for byte (the Dockerfile parser, .dockerignore patterns) relies on invalid UTF-8
// decoding to U+FFFD with width 1 and on Go's set of Unicode spaces, not the C library's
// locale-dependent rules.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hoist {

inline constexpr char32_t kRuneError = 0xFFFD;

struct DecodedRune {
  char32_t rune;
  size_t width;  // 0 only for empty input
};

// utf8.DecodeRuneInString: an invalid or truncated sequence yields (U+FFFD, 1).
DecodedRune DecodeRune(std::string_view s);
// DecodeRune at s[pos] (REQUIRES: pos < s.size()); stores the rune, returns its width.
size_t DecodeRuneAt(std::string_view s, size_t pos, char32_t* rune);
// Whether s is valid UTF-8 (utf8.ValidString); if not, `*bad` (when given) gets the offset of
// the first invalid byte.
bool IsValidUtf8(std::string_view s, size_t* bad = nullptr);
// Every rune of s, invalid bytes as U+FFFD (as ranging over a Go string, but []rune).
std::vector<char32_t> DecodeRunes(std::string_view s);
// utf8.AppendRune: surrogates and out-of-range values are written as U+FFFD.
void AppendRune(std::string* out, char32_t r);

// Go treats a byte as a rune in a few places (rune(line[i])): Latin-1, so 0x85 and 0xA0 are
// spaces there.
inline bool IsByteSpace(unsigned char b) {
  return b == ' ' || (b >= '\t' && b <= '\r') || b == 0x85 || b == 0xA0;
}

bool IsSpace(char32_t r);  // unicode.IsSpace

std::string_view TrimLeftSpace(std::string_view s);  // strings.TrimLeftFunc(s, unicode.IsSpace)
std::string_view TrimRightSpace(std::string_view s);
std::string_view TrimSpace(std::string_view s);  // strings.TrimSpace

}  // namespace hoist
