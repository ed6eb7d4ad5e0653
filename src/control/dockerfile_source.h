// Where the built-in frontend gets the Dockerfile and the .dockerignore that applies to it:
// the client's `dockerfile` and `context` directories through its session, or BuildKit's
// `dockerfile` frontend input (a graph whose result holds the files). As BuildKit's frontend:
// `<filename>.dockerignore` beside the Dockerfile wins when there is one, even empty; else the
// context's `.dockerignore`, read only when the context is the client's.
//
// Thread-safety: functions of their arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "control/frontend_attrs.h"
#include "llb/definition.h"
#include "session/session.h"

namespace hoist::control {

// The largest Dockerfile or ignore file read.
inline constexpr uint64_t kMaxDockerfileBytes = 64u << 20;

struct DockerfileFiles {
  std::string dockerfile;
  std::string dockerignore;
};

// A file of the client's local `dir` (the Dockerfile, a .dockerignore), whole, at most 64 MiB.
// `optional`: a missing file is "".
Result<std::string> ReadClientFile(session::Session& s, std::string_view dir,
                                   std::string_view path, bool optional);
// The same from a directory already opened (over a remote session, a file of its last walk
// comes on that walk's transfer).
Result<std::string> ReadClientFile(session::ClientDir& dir, std::string_view path, bool optional);

// From the client's directories (`f.dockerfile_local`, `f.context_local`). A missing
// Dockerfile is kNotFound, `failed to read dockerfile: open NAME: no such file or directory`.
Result<DockerfileFiles> ReadSessionDockerfile(session::Session& s, const FrontendSettings& f);

// Solves a graph and calls `fn` with a read-only view of its result.
using SolveAndView =
    std::function<Status(const llb::Definition& def,
                         const std::function<Status(const std::string& dir)>& fn)>;

// From the `dockerfile` frontend input: read from the graph itself when it only makes the
// files (llb::InlineFiles), else from its result through `solve`. `local_context`: the context
// is the client's directory, whose ignore file applies when the input has none.
Result<DockerfileFiles> ReadInputDockerfile(const llb::Definition& input, session::Session& s,
                                            const FrontendSettings& f, bool local_context,
                                            const SolveAndView& solve);

// Whether the client that sent a frontend input says it read the files from one of its local
// directories (llb::kInlineFromLocal): provenance then names that source as if the frontend had
// read it.
bool InputReadFromLocal(const llb::Definition& input);

}  // namespace hoist::control
