// The client's end of a single-file export: the file is written beside its destination and
// renamed into place by Commit (fsynced first), so the destination only ever holds a whole
// export; without Commit the partial file is removed. "-" is standard output, which the client
// does not own: bytes go out as they come and Commit only flushes.
//
// Errors do not name the destination (they may reach the engine).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/error.h"
#include "session/session.h"

namespace hoist::session::internal {

// `done` runs when the returned file is destroyed (committed or not).
Result<std::unique_ptr<OutputFile>> OpenLocalOutputFile(const std::string& path,
                                                        std::function<void()> done);

}  // namespace hoist::session::internal
