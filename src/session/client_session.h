// ClientSession: the client's side of a session, holding what the client attached (OCI layout
// directories and tarballs as stores, local directories, secrets), and serving the engine
// through the Session interface. With the in-process transport the engine holds this object
// (as a Session) directly.
//
// Attach before handing the session to the engine; attaching later is allowed (it is
// thread-safe) but the engine may already have looked and found nothing.
//
// Privacy: the client's paths are kept here and never appear in what Session methods return;
// store errors are scrubbed of them (they read `oci:<id>` instead).
//
// Thread-safety: thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/file_system.h"
#include "content/content_store.h"
#include "content/oci_layout.h"
#include "session/session.h"

namespace hoist::session {

class ClientSession final : public Session {
 public:
  // A session with a random ID.
  explicit ClientSession(std::string shared_key = "");
  ClientSession(std::string id, std::string shared_key);
  ~ClientSession() override;

  // --- client side: attaching ---

  // Attaches the OCI layout at `path` (a directory, or an uncompressed tarball read in place)
  // read-only as `oci:<store_id>`. Nothing is locked or written, so read-only mounts work.
  // Errors here are the client's own and may name the path; a duplicate ID is kAlreadyExists.
  Status AttachOciLayout(const std::string& store_id, const std::string& path,
                         FileSystem* fs = PosixFileSystem());
  // The same for a layout the caller already opened from `path` (which is only kept to be
  // scrubbed from errors). REQUIRES: layout != nullptr.
  Status AttachOpenedLayout(const std::string& store_id, std::unique_ptr<content::OciLayout> layout,
                            const std::string& path);
  // Attaches any store as `oci:<store_id>`; `private_strings` (paths) are scrubbed from its
  // errors. The store is wrapped read-only and verifying.
  Status AttachOciStore(const std::string& store_id, std::shared_ptr<content::ContentStore> store,
                        std::vector<std::string> private_strings);
  // Attaches the directory at `path` under `name`.
  Status AttachLocalDir(const std::string& name, const std::string& path);
  // Secrets: read when the engine asks, from a file or an environment variable.
  Status AttachSecretFile(const std::string& id, const std::string& path);
  Status AttachSecretEnv(const std::string& id, const std::string& env_name);

  // The store IDs attached, sorted.
  std::vector<std::string> StoreIds() const;

  // --- engine side: Session ---
  const std::string& id() const override { return id_; }
  const std::string& shared_key() const override { return shared_key_; }
  Result<std::shared_ptr<content::ContentStore>> OciStore(std::string_view store_id) override;
  Result<std::shared_ptr<ClientDir>> LocalDir(std::string_view name) override;
  Result<std::string> Secret(std::string_view id) override;

 private:
  struct SecretSource {
    std::string file;  // one of these two
    std::string env;
  };

  const std::string id_;
  const std::string shared_key_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<content::ContentStore>, std::less<>> stores_;
  std::map<std::string, std::shared_ptr<ClientDir>, std::less<>> dirs_;
  std::map<std::string, SecretSource, std::less<>> secrets_;
};

}  // namespace hoist::session
