// The sending side of fsutil's diffcopy protocol (api/fsutil/wire.proto): walks a ClientDir,
// sends one STAT per entry and serves the receiver's requests for file contents until it says
// FIN. The client runs it for FileSync (its local dirs to the engine), the engine for FileSend
// (an export to the client's output directory).
#pragma once

#include "base/cancel.h"
#include "base/error.h"
#include "session/internal/packet_stream.h"
#include "session/session.h"

namespace hoist::session::internal {

// Sends the entries of `dir` that `options` select over `stream` and serves file requests
// until the receiver's FIN, which is answered. A walk or read error is also sent to the
// receiver as ERR. When the receiver fails (ERR) or the stream breaks, the error says so and
// the caller should prefer the call's own status, which tells more. A file that vanished
// after the walk is sent as empty, as fsutil does.
//
// Runs a thread that reads the stream while this one writes; both are done on return.
Status SendTree(PacketStream& stream, ClientDir& dir, const WalkOptions& options,
                CancelContext* cancel = nullptr);

// The error SendTree and the receivers report when the stream ended or broke under them
// (kUnavailable); callers replace it with the call's status.
Error BrokenStreamError();
bool IsBrokenStream(const Error& e);

}  // namespace hoist::session::internal
