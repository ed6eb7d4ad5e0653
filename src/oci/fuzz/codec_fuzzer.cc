// libFuzzer target for the OCI JSON codecs: the first byte of the input picks the codec
// (manifest, index, image config, oci-layout file, descriptor, platform object), the rest is the
// JSON. Besides returning without crashing, a document that parses must serialize to JSON that
// parses back and serializes to the same bytes (the codecs are what hoist writes into layouts
// and registries, so a value must survive its own round trip).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "oci/descriptor.h"
#include "oci/image_config.h"
#include "oci/image_layout.h"
#include "oci/index.h"
#include "oci/manifest.h"

namespace oci = hoist::oci;

namespace {

template <class Parse, class Serialize>
void RoundTrip(std::string_view json, Parse parse, Serialize serialize) {
  auto value = parse(json);
  if (!value) return;
  std::string once = serialize(*value);
  auto back = parse(once);
  if (!back) std::abort();
  if (serialize(*back) != once) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0:
      RoundTrip(json, oci::ParseManifest, oci::SerializeManifest);
      if (auto m = oci::ParseManifest(json)) (void)oci::CheckManifestSchema(*m);
      break;
    case 1:
      RoundTrip(json, oci::ParseIndex, oci::SerializeIndex);
      break;
    case 2:
      RoundTrip(json, oci::ParseImageConfig, oci::SerializeImageConfig);
      break;
    case 3:
      RoundTrip(json, oci::ParseImageLayout, oci::SerializeImageLayout);
      break;
    case 4:
      RoundTrip(json, oci::ParseDescriptor, oci::SerializeDescriptor);
      break;
    default:
      RoundTrip(json, oci::ParsePlatformJson, oci::SerializePlatform);
      break;
  }
  return 0;
}
