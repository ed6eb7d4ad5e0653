#include "session/rpc_runtime.h"

#include <absl/synchronization/mutex.h>

namespace hoist::session {

void ConfigureRpcRuntime() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

}  // namespace hoist::session
