// The Dockerfile sent with the request. For hoistd, hoist's client reads the Dockerfile and the
// ignore file that applies to it itself and gives them as the `dockerfile` frontend input
// (BuildKit's FrontendInputs, in the shape LLB clients give a Dockerfile written inline: files
// made on scratch), so the daemon does not fetch them over the session first: two fewer transfers,
// each a few round trips, before the build can start.
//
// The input holds `<filename>` and `<filename>.dockerignore`: the Dockerfile's own ignore file
// when it has one, else the context's `.dockerignore`, else an empty one, which the frontend
// reads exactly as it would read those files from the client's directories.
#pragma once

#include <optional>

#include "control/solve_request.h"
#include "llb/definition.h"
#include "session/client_session.h"

namespace hoist::client {

// nullopt when the request should read the Dockerfile as usual: another frontend, a git
// context, an input given already, or files this side cannot read whole and small (a missing
// Dockerfile, a symlink, more than 1 MiB): the daemon reads those and reports what is wrong
// exactly. The input's file op says which local directory its files were read from
// (llb::kInlineFromLocal), for the provenance the daemon records.
std::optional<llb::Definition> InlineDockerfile(const control::SolveRequest& request,
                                                session::ClientSession& session);

}  // namespace hoist::client
