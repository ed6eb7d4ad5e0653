// UTF-8 decoding and the Unicode character classes that BuildKit's shell lexer relies on (Go's
// unicode.IsLetter, IsDigit and IsSpace, and utf8.DecodeRune's treatment of invalid bytes), so
// that hoist splits words and reads variable names exactly where BuildKit does.
//
// Thread-safety: pure functions over constant tables.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace hoist::frontend::dockerfile::internal {

// U+FFFD, what an invalid UTF-8 byte decodes to.
inline constexpr char32_t kRuneError = 0xFFFD;

// Unicode general category L (any letter).
bool IsLetterRune(char32_t r);
// Unicode general category Nd (decimal digit).
bool IsDigitRune(char32_t r);
// Go's unicode.IsSpace: ASCII \t \n \v \f \r and space, U+0085, U+00A0 and category Z.
bool IsSpaceRune(char32_t r);

// Decodes the rune at s[pos] (REQUIRES: pos < s.size()) into *rune and returns its width in
// bytes. An invalid or truncated sequence decodes to kRuneError with width 1, as in Go.
size_t DecodeRune(std::string_view s, size_t pos, char32_t* rune);

// Appends r as UTF-8; a surrogate or out-of-range value is written as U+FFFD.
void AppendRune(std::string* out, char32_t r);

}  // namespace hoist::frontend::dockerfile::internal
