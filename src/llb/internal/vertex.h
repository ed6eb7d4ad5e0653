// The vertices behind States, and the per-call marshalling context. Private to src/llb.
//
// A Vertex is immutable once built and shared by every State that refers to it. Marshalling
// never caches in the vertex: MarshalContext memoises per Marshal() call, so concurrent
// Marshal() calls on shared graphs are safe.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/error.h"
#include "llb/definition.h"
#include "llb/marshal.h"
#include "llb/state.h"
#include "oci/digest.h"

namespace hoist::llb::internal {

// One op, serialised.
struct MarshalledOp {
  oci::Digest digest;
  std::string bytes;  // pb.Op wire bytes
  OpMetadata metadata;
};

// An input edge as the wire names it.
struct InputRef {
  oci::Digest digest;
  int64_t index = 0;
  friend bool operator==(const InputRef&, const InputRef&) = default;
};

// BuildKit's Constraints: the per-op options after merging with Marshal's.
struct Constraints {
  oci::Platform platform;
  std::vector<std::string> worker_constraints;
  OpMetadata metadata;
};

class MarshalContext;

class Vertex {
 public:
  virtual ~Vertex() = default;
  // The outputs this vertex reads, each once, in the order BuildKit visits them.
  virtual std::vector<Output> Inputs() const = 0;
  // Serialises this op; inputs are resolved through ctx.ToInput.
  virtual Result<MarshalledOp> MarshalOp(MarshalContext& ctx) const = 0;
};

class MarshalContext {
 public:
  explicit MarshalContext(const MarshalOptions& options);

  const MarshalOptions& options() const { return options_; }
  // The marshalled form of `v`, computed once per context.
  Result<const MarshalledOp*> Marshal(const Vertex& v);
  // REQUIRES: output.vertex != nullptr.
  Result<InputRef> ToInput(const Output& output);
  // BuildKit's MarshalConstraints: Marshal's defaults overridden by the op's options, plus
  // the op's own caps.
  Constraints Merge(const OpOptions& op, const std::vector<std::string_view>& caps,
                    const std::optional<oci::Platform>& platform_override) const;

 private:
  MarshalOptions options_;
  oci::Platform default_platform_;
  std::unordered_map<const Vertex*, MarshalledOp> memo_;
};

// OpOptions → metadata (custom name, description, ignore_cache, export_cache, progress).
OpMetadata MetadataOf(const OpOptions& op);
// Adds a cap to metadata.
inline void AddCap(OpMetadata& md, std::string_view cap) { md.caps[std::string(cap)] = true; }

}  // namespace hoist::llb::internal
