// A solve as the control layer takes it: BuildKit's SolveRequest and SolveResponse in hoist's
// types. The embedded client fills it from its flags exactly as buildx fills the gRPC message
// for a daemon, so both paths run the same build; hoistd's Control service translates the wire
// message into it field by field.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "llb/definition.h"

namespace hoist::control {

using Attrs = std::map<std::string, std::string>;

// An exporter (`image`, `oci`, `docker`, `local`, `tar`) or a cache exporter/importer
// (`local`, `registry`) with its attributes, by BuildKit's type names and attribute keys.
struct TypedAttrs {
  std::string type;
  Attrs attrs;
};

struct SolveRequest {
  // The build's reference (BuildKit's Ref): names the build in progress and logs.
  std::string ref;
  // Only the built-in Dockerfile frontend: "dockerfile.v0" (or "" meaning the same).
  std::string frontend = "dockerfile.v0";
  // filename, target, build-arg:*, context:*, platform, label:*, no-cache, image-resolve-mode,
  // ... (see frontend_attrs.h).
  Attrs frontend_attrs;
  // BuildKit's FrontendInputs: `dockerfile`, a graph whose result holds the Dockerfile (and
  // maybe `<filename>.dockerignore`), used instead of the `dockerfile` local. The Dockerfile
  // frontend here takes no other input.
  std::map<std::string, llb::Definition> frontend_inputs;
  // BuildKit v0.11 carries one exporter; hoist's own client may give several.
  std::vector<TypedAttrs> exporters;
  std::vector<TypedAttrs> cache_exports;
  std::vector<TypedAttrs> cache_imports;
  // The client session that serves the build's directories, stores, secrets and outputs.
  std::string session_id;
  std::vector<std::string> entitlements;
};

struct SolveResponse {
  // containerimage.digest, containerimage.config.digest, containerimage.descriptor (base64 of
  // the descriptor's JSON, as BuildKit sends it), image.name; cache.manifest (the JSON of the
  // local cache manifest's descriptor, for the client to name in its cache directories).
  std::map<std::string, std::string> exporter_response;
};

}  // namespace hoist::control
