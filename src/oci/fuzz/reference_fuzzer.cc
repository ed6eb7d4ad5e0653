// libFuzzer target for image references, platforms and layout ref names. The input is split at
// its first NUL: the part before is parsed as a reference, a platform specifier and a ref name;
// the part after is used as a FamiliarMatch pattern. Besides returning without crashing, the
// parsers must keep their round trips:
//  - a parsed reference's String() parses back to the same reference;
//  - ParseNormalizedNamed(s).String() is accepted by ParseNamed, unchanged;
//  - a parsed platform formats to a specifier that parses back to the same platform (its OS
//    features sorted and deduplicated).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "oci/platform.h"
#include "oci/ref_name.h"
#include "oci/reference.h"

namespace oci = hoist::oci;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view pattern;
  if (size_t nul = input.find('\0'); nul != std::string_view::npos) {
    pattern = input.substr(nul + 1);
    input = input.substr(0, nul);
  }

  if (auto ref = oci::ParseReference(input)) {
    auto again = oci::ParseReference(ref->String());
    if (!again || !(*again == *ref)) std::abort();
    (void)oci::FamiliarString(*ref);
    (void)oci::TagNameOnly(*ref);
    if (ref->has_name()) (void)oci::WithTag(*ref, "t");
  }
  if (auto named = oci::ParseNormalizedNamed(input)) {
    auto full = oci::ParseNamed(named->String());
    if (!full || !(*full == *named)) std::abort();
    (void)oci::FamiliarName(*named);
    if (!pattern.empty()) (void)oci::FamiliarMatch(pattern, *named);
  }
  (void)oci::ParseDockerRef(input);
  (void)oci::ParseAnyReference(input);
  (void)oci::SortReferences({std::string(input), std::string(pattern)});

  if (auto platform = oci::ParsePlatform(input)) {
    // FormatPlatformAll sorts and dedupes OS features, as containerd's FormatAll; Parse keeps
    // them as written.
    oci::Platform expected = *platform;
    std::sort(expected.os_features.begin(), expected.os_features.end());
    expected.os_features.erase(std::unique(expected.os_features.begin(), expected.os_features.end()),
                               expected.os_features.end());
    auto again = oci::ParsePlatform(oci::FormatPlatformAll(*platform));
    if (!again || !(*again == expected)) std::abort();
  }
  (void)oci::IsValidRefName(input);
  return 0;
}
