// What the Control and gateway services share: error mapping, cancelling a build when its call
// goes away, and the worker record both announce. Included only by the services' .cc files (it
// pulls in gRPC).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <google/protobuf/map.h>
#include <grpcpp/grpcpp.h>

#include "api/llb/ops.pb.h"
#include "api/types/worker.pb.h"
#include "base/cancel.h"
#include "base/error.h"
#include "control/control_service.h"
#include "llb/definition.h"

namespace hoist::control::internal {

inline grpc::Status ToGrpc(const Error& e) {
  return grpc::Status(static_cast<grpc::StatusCode>(e.code()), e.message());
}

// Cancels `cancel` when the client gives up on the call (or the daemon shuts down).
class CallWatcher {
 public:
  CallWatcher(grpc::ServerContext* ctx, std::shared_ptr<CancelContext> cancel,
              std::shared_ptr<CancelContext> shutdown);
  ~CallWatcher();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// A solve's frontend inputs (Control.Solve's and the gateway's), by name; kInvalidArgument,
// naming the input, for one that is not an LLB definition.
Result<std::map<std::string, llb::Definition>> FrontendInputs(
    const google::protobuf::Map<std::string, ::pb::Definition>& inputs);

// This daemon's one worker, as ListWorkers and the gateway's Ping report it.
void FillWorkerRecord(const ServiceOptions& o, ::moby::buildkit::v1::types::WorkerRecord* w);

}  // namespace hoist::control::internal
