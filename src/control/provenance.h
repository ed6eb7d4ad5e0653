// Attestations a build asks for, and the SLSA provenance it gets, as BuildKit v0.11 makes them.
//
// Requests come as frontend attributes: `attest:provenance` and `attest:sbom` (buildx's
// `--provenance`, `--sbom`, `--attest type=…`; buildctl's `--opt attest:…`), or build
// arguments `BUILDKIT_ATTEST_PROVENANCE` / `BUILDKIT_ATTEST_SBOM`. Values are CSV `key=value`
// lists; an empty value asks with the defaults. Provenance keys: mode (min, max — the default
// — or full, the same as max), inline-only, builder-id, reproducible, filename; `enabled=false`
// turns it off. SBOM keys: generator (a scanner image; hoist's own scanner is used, see
// exporter/sbom.h), enabled. Any other attestation type is an error.
//
// The provenance predicate (https://slsa.dev/provenance/v0.2) follows BuildKit's field by
// field:
//   builder.id          builder-id, else ""
//   buildType           https://mobyproject.org/buildkit@v1
//   materials           base images by purl and digest (an image's resolved digest), layout
//                       contexts by their reference (`docker.io/library/base@sha256:…`, never a
//                       path), git sources as URL#ref with the commit (sha1), downloads by URL
//                       and digest
//   invocation          configSource (a git context's URL and commit, the Dockerfile's name),
//                       parameters (frontend, the frontend's attributes without host-specific
//                       ones, credentials removed from URLs; min leaves out build-arg:* and
//                       label:*, max adds the secret and SSH IDs the build used), the locals,
//                       and the engine's platform. A layout context's value names the context
//                       instead of its session's store ID (`oci-layout://base@sha256:…`)
//   buildConfig         max only: the LLB graph, one step per op (`step0`…) with its inputs;
//                       session-scoped source attributes (local.session, oci.store…) left out
//   metadata            invocation ID, start and finish times, completeness, reproducible,
//                       hermetic (no local sources, no step with network access); max adds the
//                       Dockerfile as source info with each step's lines, and, where an image is
//                       exported, the layers each step's result is (AddProvenanceLayers)
// When SOURCE_DATE_EPOCH is set, both times are that instant, the invocation ID is derived
// from the build's steps and parameters, and buildConfig has no digestMapping (op digests cover
// session IDs), so a reproducible build stays reproducible with provenance on.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "base/error.h"
#include "control/solve_request.h"
#include "llb/definition.h"
#include "oci/descriptor.h"
#include "solver/scheduler.h"

namespace hoist::control {

struct ProvenanceRequest {
  bool max = true;  // mode=max (the default) or min
  bool inline_only = false;
  std::string builder_id;
  bool reproducible = false;
  std::string filename = "provenance.json";
};

struct SbomRequest {
  std::string generator;  // as asked; informational
};

struct AttestRequest {
  std::optional<ProvenanceRequest> provenance;
  std::optional<SbomRequest> sbom;
  bool empty() const { return !provenance && !sbom; }
};

// kInvalidArgument for an unknown attestation type, a malformed CSV value or a bad mode.
Result<AttestRequest> ParseAttestRequest(const Attrs& frontend_attrs);

// One platform's build, as provenance records it.
struct ProvenanceInput {
  std::string frontend = "dockerfile.v0";
  Attrs frontend_attrs;
  const llb::Definition* definition = nullptr;
  const std::vector<solver::SolvedVertex>* vertices = nullptr;
  std::string dockerfile_name;
  std::string dockerfile;     // its text (max: source info)
  bool dockerfile_local = true;  // read from the client's `dockerfile` local
  int64_t started_ns = 0;     // unix nanoseconds
  int64_t finished_ns = 0;
  std::string invocation_id;
  std::optional<int64_t> epoch;  // SOURCE_DATE_EPOCH
};

// For max provenance's layers, the steps as the predicate numbers them ("stepN:OUTPUT").
struct ProvenanceSteps {
  std::string head;  // the step output the build's result is
  // Step output → the step output its result is one layer on: an exec's root mount input, a
  // file op's base. Sources have none.
  std::map<std::string, std::string> base;
  // Step output → the result (snapshot) it gave, where the solve still has it (a step below a
  // cache hit whose record is gone has none: walking `base` from `head` down the result's
  // snapshot chain finds it).
  std::map<std::string, std::string> results;
};

// The predicate's JSON. For mode=max, `steps` (may be null) gets the steps as the predicate
// numbers them, for AddProvenanceLayers at export.
Result<std::string> ProvenancePredicate(const ProvenanceRequest& request,
                                        const ProvenanceInput& input,
                                        ProvenanceSteps* steps = nullptr);

// Adds BuildKit's `layers` metadata to a predicate: "stepN:OUTPUT" → the layer chain of the
// image that output's result is (as exported: media types and digests of that export).
Result<std::string> AddProvenanceLayers(
    std::string_view predicate, const std::map<std::string, std::vector<oci::Descriptor>>& layers);

}  // namespace hoist::control
