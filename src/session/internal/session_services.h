// The gRPC services a client serves its session with (BuildKit's attachables), all over one
// ClientSession:
//   moby.filesync.v1.FileSync   DiffCopy: its local dirs, as fsutil's sender (TarStream: no)
//   moby.filesync.v1.FileSend   DiffCopy: an export into its output file or output directory
//   containerd...content.v1.Content  its OCI stores `oci:<ID>` (read-only), the `export`
//                               store (writable) and its caches' stores `local:<key>` (read-only
//                               for an import, writable for an export), chosen by the
//                               buildkit-attachable-store-id key
//   moby.buildkit.secrets.v1.Secrets  GetSecret
//   moby.filesync.v1.Auth       Credentials, from what the client attached (other methods:
//                               Unimplemented, so engines fall back to Credentials)
//   grpc.health.v1.Health       always SERVING (BuildKit's daemon drops a session that fails it)
// Errors carry hoist's codes as gRPC status codes and never a client path.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "session/client_session.h"

namespace grpc {
class Service;
}

namespace hoist::session::internal {

std::vector<std::unique_ptr<grpc::Service>> MakeSessionServices(
    std::shared_ptr<ClientSession> session);

// The method URLs ("/package.Service/Method") of the services above that `session` has
// something attached for, sorted; health always.
std::vector<std::string> ExposedMethods(const ClientSession& session);

}  // namespace hoist::session::internal
