// The parts of RemoteSession that live in their own files: the gRPC channel to the client and
// what the client said it serves, shared by every object a RemoteSession hands out (they may
// outlive it), and the factories of those objects.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "base/error.h"
#include "content/content_store.h"
#include "session/remote_session.h"
#include "session/session.h"

namespace grpc {
class Channel;
}

namespace hoist::session::internal {

struct RemoteConnection {
  RemoteSessionInfo info;
  std::set<std::string> methods;  // lowercased
  std::shared_ptr<grpc::Channel> channel;
  // Bytes of the client's blobs kept in memory for the session, by all its stores together.
  mutable std::atomic<size_t> kept_bytes{0};

  bool Supports(std::string_view method) const;
  // Counts `n` more kept bytes unless that would pass `limit`; whether it did.
  bool TakeKeptBytes(size_t n, size_t limit) const;
  void ReturnKeptBytes(size_t n) const { kept_bytes -= n; }
};

// The client's directory `name` over FileSync.DiffCopy.
std::shared_ptr<ClientDir> MakeRemoteClientDir(std::shared_ptr<const RemoteConnection> conn,
                                               std::string name);

// The client's content store `store` (`oci:<ID>` or `export`) over the Content service, as is:
// callers wrap it (AttachedStore) to verify reads. It remembers the sizes the client stated and
// keeps small blobs (up to 256 KiB, 4 MiB for all of a session's stores) whose bytes matched their
// digest, for as long as it lives; larger blobs stream.
std::shared_ptr<content::ContentStore> MakeRemoteContentStore(
    std::shared_ptr<const RemoteConnection> conn, std::string store);
// Whether the client serves the store (a call on it); the client's error when not.
Status ProbeRemoteStore(const RemoteConnection& conn, const std::string& store);

}  // namespace hoist::session::internal
