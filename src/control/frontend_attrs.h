// The built-in Dockerfile frontend's options (`dockerfile.v0`), by the attribute keys buildctl
// and buildx send:
//
//   filename            the Dockerfile's name in the `dockerfile` local (default Dockerfile)
//   target              the stage to build
//   build-arg:NAME      a build argument (SOURCE_DATE_EPOCH among them)
//   label:NAME          a label on the image
//   platform            target platforms, comma-separated (one solve each)
//   no-cache            present: build without the cache (any value; BuildKit's per-stage list
//                       is applied to the whole build)
//   image-resolve-mode  default, pull or local
//   context:NAME        a named context; input-metadata:NAME its metadata
//   hostname            the hostname RUN steps see
//   multi-platform      accepted (several platforms need no switch here)
//   contextkey, dockerfilekey  the locals the context and the Dockerfile come from
//   context             a git repository URL as the build context (`https://host/r.git#ref:dir`):
//                       the engine fetches it and reads the Dockerfile (`filename`) from it
//
//   attest:TYPE         an attestation (provenance, sbom): see provenance.h
//
// Other keys (add-hosts, shm-size, ...) are not applied: each gives a warning.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "control/solve_request.h"
#include "frontend/dockerfile/convert.h"
#include "oci/platform.h"

namespace hoist::control {

struct FrontendSettings {
  frontend::dockerfile::ConvertOptions convert;  // without resolver, session and dockerignore
  std::vector<std::optional<oci::Platform>> platforms;  // at least one; nullopt: the default
  bool no_cache = false;
  std::optional<int64_t> epoch;  // SOURCE_DATE_EPOCH
  std::string context_local = "context";
  std::string dockerfile_local = "dockerfile";
  std::string filename = "Dockerfile";
  std::vector<std::string> warnings;  // keys not applied
};

// kInvalidArgument for malformed values (a platform, SOURCE_DATE_EPOCH, a resolve mode).
Result<FrontendSettings> ParseFrontendAttrs(const Attrs& attrs);

// What a solve's frontend means here: "" and dockerfile.v0 are the built-in Dockerfile frontend;
// gateway.v0 with `source` docker/dockerfile(:1…) is served by it too (the returned note says
// so); any other frontend or frontend image is kUnimplemented.
Result<std::optional<std::string>> CheckFrontend(std::string_view frontend, const Attrs& attrs);

// What a `# syntax=` directive means here: the built-in frontend serves docker/dockerfile:1
// and its tags (the returned note says so); any other frontend image is kUnimplemented.
// No directive: nullopt.
Result<std::optional<std::string>> CheckSyntaxDirective(std::string_view dockerfile);

}  // namespace hoist::control
