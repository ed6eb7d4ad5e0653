#include "cmd/image_ref.h"

#include <unistd.h>

namespace hoist::cmd {

content::LayoutRef SplitRef(const std::string& arg) {
  if (::access(arg.c_str(), F_OK) == 0) return content::LayoutRef{arg, "", {}};
  return content::ParseLayoutRef(arg);
}

Result<oci::Descriptor> ResolveRoot(content::OciLayout& layout, const content::LayoutRef& ref) {
  if (ref.digest.valid()) return layout.ResolveDigest(ref.digest);
  if (!ref.tag.empty()) return layout.ResolveTag(ref.tag, /*single_fallback=*/false);
  return layout.ResolveTag("latest", /*single_fallback=*/true);
}

std::string Annotation(const oci::Descriptor& d, std::string_view key) {
  auto it = d.annotations.find(std::string(key));
  return it == d.annotations.end() ? std::string() : it->second;
}

Result<OpenedImage> OpenImage(const std::string& arg, const std::string& platform_spec) {
  content::LayoutRef ref = SplitRef(arg);
  std::optional<oci::Platform> platform;
  if (!platform_spec.empty()) {
    HOIST_ASSIGN_OR_RETURN(platform, oci::ParsePlatform(platform_spec));
  }
  OpenedImage out;
  HOIST_ASSIGN_OR_RETURN(out.layout, content::OciLayout::Open(PosixFileSystem(), ref.path,
                                                              /*read_only=*/true));
  HOIST_ASSIGN_OR_RETURN(oci::Descriptor root, ResolveRoot(*out.layout, ref));
  std::string display = ref.digest.valid() ? ref.digest.str() : arg;
  HOIST_ASSIGN_OR_RETURN(out.image,
                         content::ResolveImage(out.layout->store(), root, platform, display));
  return out;
}

}  // namespace hoist::cmd
