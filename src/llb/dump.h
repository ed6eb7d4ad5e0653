// DumpLLB: a Definition as JSON lines, one op per line, in the format of
// `buildctl debug dump-llb`:
//
//   {"Op":{"inputs":[...],"Op":{"exec":{...}},"platform":{...},"constraints":{}},
//    "Digest":"sha256:...","OpMetadata":{"caps":{...}}}
//
// Field names are the .proto names, as Go's encoding/json prints BuildKit's generated
// types: zero values are left out, integers and enums are numbers, bytes are base64, map keys
// sorted, <>& escaped; the oneof of an op (and of a file action or user) is an object under
// "Op" ("Action", "User"), as in BuildKit's solver/pb/json.go. The aim is output
// byte-identical to buildctl's for the same input; one deliberate difference: BuildKit's
// json.go forgets symlink actions ("Action":{}), hoist prints them ("Action":{"symlink":...}).
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "base/error.h"
#include "llb/definition.h"

namespace hoist::llb {

// Each line ends with "\n".
Result<std::string> DumpLLB(const Definition& definition);
// `bytes` is a marshalled pb.Definition. kInvalidArgument when it does not parse.
Result<std::string> DumpLLB(std::string_view bytes);

}  // namespace hoist::llb
