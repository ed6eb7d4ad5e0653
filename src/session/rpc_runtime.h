// Process-wide settings of the RPC runtime (gRPC and the Abseil it runs on) that every hoist
// binary applies once, before it makes or serves any call.
#pragma once

namespace hoist::session {

// Turns off Abseil's mutex deadlock detection, which Debian's Abseil is built with: every lock
// gRPC takes then also updates a global lock-order graph under a global lock (5–8% of the CPU
// a context transfer spends in gRPC). hoist's own code does not use Abseil's mutexes.
// Call before any thread starts.
void ConfigureRpcRuntime();

}  // namespace hoist::session
