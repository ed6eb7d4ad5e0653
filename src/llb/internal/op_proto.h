// Helpers shared by the .cc files that build pb.Op messages. Includes the generated
// protobuf header: include this only from .cc files in src/llb.
#pragma once

#include <string>

#include "api/llb/ops.pb.h"
#include "llb/internal/vertex.h"

namespace hoist::llb::internal {

// pb.Op with platform (unless platform_specific is false) and the always-present
// constraints message, as BuildKit's MarshalConstraints builds it.
void SetConstraints(const Constraints& c, bool platform_specific, pb::Op* op);
void SetInput(const InputRef& in, pb::Input* out);
// Deterministic wire bytes and their digest.
MarshalledOp Finish(const pb::Op& op, OpMetadata metadata);
// pb.OpMetadata from ours and back.
void ToProto(const OpMetadata& md, pb::OpMetadata* out);
OpMetadata FromProto(const pb::OpMetadata& md);
// Deterministic serialisation of any message.
std::string SerializeDeterministic(const google::protobuf::MessageLite& m);

}  // namespace hoist::llb::internal
