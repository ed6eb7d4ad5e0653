// Definition: a marshalled LLB graph (BuildKit's pb.Definition) as plain C++ values, so that
// code passing graphs around needs no protobuf headers.
//
// Format: `def` holds the wire bytes of pb.Op messages in dependency order (an op's inputs
// come before it); the last op has a single input and no body, and selects the result. An
// op's digest is the sha256 of its bytes. `metadata` is keyed by those digests.
// Serialize()/Parse() convert to and from the wire bytes of pb.Definition (api/llb/ops.proto).
//
// Thread-safety: values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/digest.h"

namespace hoist::llb {

struct ProgressGroup {
  std::string id;
  std::string name;
  bool weak = false;

  friend bool operator==(const ProgressGroup&, const ProgressGroup&) = default;
};

// pb.OpMetadata: what the solver should know about an op that is not part of its digest.
struct OpMetadata {
  bool ignore_cache = false;
  std::map<std::string, std::string> description;
  std::optional<bool> export_cache;
  std::map<std::string, bool> caps;
  std::optional<ProgressGroup> progress_group;

  // BuildKit's mergeMetadata: `other` wins where it says something.
  void Merge(const OpMetadata& other);

  friend bool operator==(const OpMetadata&, const OpMetadata&) = default;
};

struct Definition {
  std::vector<std::string> def;
  std::map<oci::Digest, OpMetadata> metadata;
  // The wire bytes of pb.Source (source map), kept opaque; empty when there is none.
  std::string source;

  // pb.Definition bytes; deterministic (map entries sorted by key).
  std::string Serialize() const;
  // Reads pb.Definition bytes. Metadata fields hoist does not model (linux_resources) are
  // dropped. kInvalidArgument for bytes that are not a Definition or a metadata key that is
  // not a digest.
  static Result<Definition> Parse(std::string_view bytes);
  // The digests of the ops in `def`, in order.
  std::vector<oci::Digest> Digests() const;
  // The op that produces the result (the only input of the last op), if any.
  Result<std::optional<oci::Digest>> Head() const;
};

// The description key (pb.OpMetadata) by which a client that read a frontend input's files from
// one of its local directories names that directory on the op that makes them: the frontend
// then records the directory as a source, as it does when it reads it itself.
inline constexpr std::string_view kInlineFromLocal = "hoist.inline.local";

// The regular files a definition makes when it is nothing but mkdir and mkfile actions on
// scratch in one file op (how LLB clients, hoist's among them, give a Dockerfile written
// inline: Scratch().File(Mkfile(...))), by clean relative path. Reading them needs no solve.
// nullopt for any other graph, and for one these actions would fail on (a file's parent
// missing, a mkdir over a file): that has to be solved. kInvalidArgument for ops that do not
// parse.
Result<std::optional<std::map<std::string, std::string>>> InlineFiles(const Definition& def);

}  // namespace hoist::llb
