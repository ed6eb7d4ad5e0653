// Build outputs as users write them (`-o/--output`, docker buildx's syntax): either a CSV of
// key=value pairs with a `type` (`type=oci,dest=out.tar,name=app:1`) or a bare destination,
// which is a local directory, or `-` for a tarball of the filesystem on stdout.
//
// Thread-safety: pure functions over values.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/csv.h"
#include "base/error.h"

namespace hoist::client {

struct OutputSpec {
  std::string type;  // local, tar, oci, docker, image, registry
  // Every other key, as given (dest, tar, name, compression, oci-mediatypes, ...).
  std::map<std::string, std::string> attrs;

  bool operator==(const OutputSpec&) const = default;
};

// Parses one --output value. Errors (kInvalidArgument) name the value: `invalid output
// "type=": type is required`, `invalid output "a=b,a=c": duplicate key "a"`.
Result<OutputSpec> ParseOutputSpec(std::string_view value);

}  // namespace hoist::client
