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

#include "base/utf8.h"

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

bool IsPrint(char32_t r);   // strconv.IsPrint
bool IsLetter(char32_t r);  // unicode.IsLetter
bool IsDigit(char32_t r);   // unicode.IsDigit
char32_t ToLower(char32_t r);

using ::hoist::AppendRune;
using ::hoist::DecodedRune;
using ::hoist::DecodeRune;
using ::hoist::DecodeRuneAt;
using ::hoist::DecodeRunes;
using ::hoist::IsByteSpace;
using ::hoist::IsSpace;
using ::hoist::kRuneError;
using ::hoist::TrimLeftSpace;
using ::hoist::TrimRightSpace;
using ::hoist::TrimSpace;

std::string ToLowerString(std::string_view s);   // strings.ToLower
std::string Quote(std::string_view s);           // strconv.Quote

}  // namespace hoist::frontend::dockerfile::internal
