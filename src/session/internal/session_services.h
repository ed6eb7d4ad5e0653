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

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "session/client_session.h"

namespace grpc {
class Service;
}

namespace hoist::session::internal {

// The session the services serve, lent to each call for as long as it runs. TakeBack lets the
// session go once no call holds it: a client done with the engine then drops its session
// (whose end writes nothing more in its outputs once every call that used them has returned)
// without waiting for the gRPC server to stop. Calls after that answer UNAVAILABLE.
// Thread-safety: thread-safe.
class SessionLender {
 public:
  explicit SessionLender(std::shared_ptr<ClientSession> session) : session_(std::move(session)) {}

  // A call's hold on the session; empty once the session was taken back.
  class Lease {
   public:
    Lease(Lease&& o) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    explicit operator bool() const { return session_ != nullptr; }
    ClientSession* operator->() const { return session_; }
    ClientSession& operator*() const { return *session_; }

   private:
    friend class SessionLender;
    Lease(SessionLender* lender, ClientSession* session) : lender_(lender), session_(session) {}
    SessionLender* lender_;
    ClientSession* session_;
  };

  Lease Borrow();
  // Waits up to `wait` for every lease to end, then drops the session; false (the session
  // still lent) when some lease lasts longer.
  bool TakeBack(std::chrono::milliseconds wait);

 private:
  std::mutex mu_;
  std::condition_variable returned_;
  std::shared_ptr<ClientSession> session_;
  int lent_ = 0;
};

std::vector<std::unique_ptr<grpc::Service>> MakeSessionServices(
    std::shared_ptr<SessionLender> lender);

// The method URLs ("/package.Service/Method") of the services above that `session` has
// something attached for, sorted; health always.
std::vector<std::string> ExposedMethods(const ClientSession& session);

}  // namespace hoist::session::internal
