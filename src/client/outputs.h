// Where a build's files go, decided on the client as buildctl and buildx do: each exporter's
// `dest` is taken out of the attributes sent to the engine and attached to the session
// instead (a directory for type=local, a file or stdout for tar/oci/docker, an OCI layout
// for type=oci,tar=false). After the solve, an OCI layout output is named in its index.json
// from the engine's response.
//
// Thread-safety: functions over the values and session they are given.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "control/solve_request.h"
#include "session/client_session.h"

namespace hoist::client {

// What AttachOutputs left to do after the solve.
struct AttachedOutputs {
  // For type=oci,tar=false: the names (`name=` attribute) to give the exported image.
  std::optional<std::vector<std::string>> layout_names;
};

// Validates every exporter's destination, removes `dest` from its attributes and attaches it
// to `session`. Errors (kInvalidArgument) say what is missing: `output type=local needs
// dest=DIR`; a tarball to a terminal is refused (`dest file is required for oci exporter.
// refusing to write to console`). One file or directory output per build, as BuildKit v0.11.
Result<AttachedOutputs> AttachOutputs(session::ClientSession& session,
                                      std::vector<control::TypedAttrs>* exporters);

// Names the image in the client's OCI layout output from the exporter response
// (containerimage.descriptor). No layout output: nothing to do.
Status FinishOutputs(session::ClientSession& session, const AttachedOutputs& outputs,
                     const std::map<std::string, std::string>& exporter_response);

}  // namespace hoist::client
