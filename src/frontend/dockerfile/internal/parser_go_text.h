// Text primitives that behave exactly as the Go standard library functions BuildKit's parser
// uses (utf8.DecodeRune, unicode.IsSpace, strings.TrimSpace, strings.ToLower, strconv.Quote).
// The parser must reproduce BuildKit's output byte for byte, including how it treats invalid
// UTF-8 (a bad byte decodes to U+FFFD, width 1) and non-ASCII spaces, so these are written
// to Go's definitions rather than to the C library's locale-dependent ones.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hoist::frontend::dockerfile::internal {

struct CodePointRange {
  char32_t lo;
  char32_t hi;
};
// Code points lo, lo+stride, ... hi map to code point + delta when lower-cased.
struct LowerRun {
  char32_t lo;
  char32_t hi;
  int stride;
  int delta;
};
// Generated tables (parser_unicode_tables.cc).
extern const CodePointRange kPrintableRanges[];
extern const int kPrintableRangeCount;
extern const CodePointRange kLetterRanges[];
extern const int kLetterRangeCount;
extern const CodePointRange kDigitRanges[];
extern const int kDigitRangeCount;
extern const LowerRun kLowerRuns[];
extern const int kLowerRunCount;

inline constexpr char32_t kRuneError = 0xFFFD;

struct DecodedRune {
  char32_t rune;
  size_t width;  // 0 only for empty input
};

// utf8.DecodeRuneInString: an invalid or truncated sequence yields (U+FFFD, 1).
DecodedRune DecodeRune(std::string_view s);
// DecodeRune at s[pos] (REQUIRES: pos < s.size()); stores the rune, returns its width.
size_t DecodeRuneAt(std::string_view s, size_t pos, char32_t* rune);
// Every rune of s, invalid bytes as U+FFFD (as ranging over a Go string, but []rune).
std::vector<char32_t> DecodeRunes(std::string_view s);
// utf8.AppendRune: surrogates and out-of-range values are written as U+FFFD.
void AppendRune(std::string* out, char32_t r);

bool IsSpace(char32_t r);   // unicode.IsSpace
bool IsPrint(char32_t r);   // strconv.IsPrint
bool IsLetter(char32_t r);  // unicode.IsLetter
bool IsDigit(char32_t r);   // unicode.IsDigit
char32_t ToLower(char32_t r);

// Go treats a byte as a rune in a few places (rune(line[i])): Latin-1, so 0x85 and 0xA0 are
// spaces there.
inline bool IsByteSpace(unsigned char b) {
  return b == ' ' || (b >= '\t' && b <= '\r') || b == 0x85 || b == 0xA0;
}

std::string_view TrimLeftSpace(std::string_view s);  // strings.TrimLeftFunc(s, unicode.IsSpace)
std::string_view TrimRightSpace(std::string_view s);
std::string_view TrimSpace(std::string_view s);  // strings.TrimSpace
std::string ToLowerString(std::string_view s);   // strings.ToLower
std::string Quote(std::string_view s);           // strconv.Quote

}  // namespace hoist::frontend::dockerfile::internal
