// How commands name an image in a layout on the command line: `LAYOUT[:TAG|@DIGEST]`.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/error.h"
#include "content/image_resolver.h"
#include "content/layout_ref.h"
#include "content/oci_layout.h"

namespace hoist::cmd {

// Splits `LAYOUT[:TAG|@DIGEST]`, unless the whole argument names an existing path.
content::LayoutRef SplitRef(const std::string& arg);

// The root descriptor named by `ref`: by digest, by tag, or with neither the tag `latest` or
// else the layout's only image.
Result<oci::Descriptor> ResolveRoot(content::OciLayout& layout, const content::LayoutRef& ref);

// A layout opened read-only with the image `arg` names, resolved for `platform` (empty: this
// machine's).
struct OpenedImage {
  std::unique_ptr<content::OciLayout> layout;
  content::ResolvedImage image;
};
Result<OpenedImage> OpenImage(const std::string& arg, const std::string& platform);

// An annotation's value, or "".
std::string Annotation(const oci::Descriptor& d, std::string_view key);

}  // namespace hoist::cmd
