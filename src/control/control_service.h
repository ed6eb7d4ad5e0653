// hoistd's gRPC services: BuildKit's Control API (moby.buildkit.v1.Control) as a thin
// translation onto Controller, and grpc.health.v1 for probes.
//
//   Solve        the request's fields become a control::SolveRequest; the build's progress is
//                published under its ref; the exporter response goes back. A client that
//                cancels the call cancels its build. Without a frontend (buildctl and buildx
//                build so), the build is opened in GatewayBuilds and driven by the client's
//                gateway calls; its returned result is exported here.
//   Status       streams the progress of the build `ref` (waiting for it to start), in
//                BuildKit's vertex/status/log/warning shapes.
//   Session      the client's session: the call's byte stream is pumped to a socket on which
//                a RemoteSession calls the client's services; the session is registered with
//                the engine for as long as the call lasts.
//   ListWorkers, Info, DiskUsage, Prune
//   anything else: UNIMPLEMENTED.
//
// The header keeps gRPC out of its includers: services come back as grpc::Service pointers.
#pragma once

#include <memory>
#include <string>

#include "control/controller.h"
#include "control/progress_hub.h"

namespace grpc {
class Service;
}

namespace hoist::control {

class GatewayBuilds;

struct ServiceOptions {
  Controller* controller = nullptr;  // REQUIRED
  ProgressHub* progress = nullptr;   // REQUIRED
  GatewayBuilds* gateway = nullptr;  // REQUIRED: shared by the Control and gateway services
  // Reported by ListWorkers.
  std::string worker_id;
  std::string hostname;
  std::string snapshotter = "overlayfs";
  std::string version = "v0.1.0";
  // Every running build and session is cancelled when this is.
  std::shared_ptr<CancelContext> shutdown;
};

std::unique_ptr<grpc::Service> NewControlService(ServiceOptions options);
// The gateway API (moby.buildkit.v1.frontend.LLBBridge) for builds that Control.Solve opened
// without a frontend: Ping, Solve (the built-in dockerfile.v0 frontend), Return and Warn;
// the other calls answer UNIMPLEMENTED.
std::unique_ptr<grpc::Service> NewGatewayService(ServiceOptions options);
std::unique_ptr<grpc::Service> NewHealthService();

}  // namespace hoist::control
