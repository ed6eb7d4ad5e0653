// Session: what the engine may ask of a client, and nothing more. A client attaches resources
// (OCI layout stores, local directories, secrets) to a session; the engine reaches them only
// through the methods below, by name or ID, never by path. The in-process transport hands the
// engine the client's Session object itself; a gRPC transport will put a proxy with the same
// interface on the engine's side (BuildKit's session: filesync, content store, secrets).
//
// Privacy: nothing the engine gets from a Session (errors included) contains a client path.
//
// Thread-safety: implementations are thread-safe; the objects they return are documented below.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "base/file_system.h"
#include "content/content_store.h"

namespace hoist::session {

// A fresh random identifier: 25 characters [0-9a-z] from 128 random bits (BuildKit's
// identity.NewID form). Used for session IDs, shared keys and store IDs.
std::string NewRandomId();

// One entry of a client directory, as a walk reports it (fsutil's Stat).
struct FileEntry {
  std::string path;   // slash-separated, relative to the directory, no leading "./"
  uint32_t mode = 0;  // st_mode: file type bits and permissions
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t size = 0;  // regular files only, else 0
  int64_t mtime_ns = 0;
  std::string link_target;  // symlinks only, as stored (never resolved)
};

// What a walk includes, in .dockerignore pattern syntax (base/pattern_matcher.h), applied on
// the client side.
struct WalkOptions {
  // When non-empty, only paths matching one of these (or under a match) are sent, with the
  // directories leading to them.
  std::vector<std::string> include_patterns;
  // Paths matching these are left out (`!pattern` re-includes), as .dockerignore does.
  std::vector<std::string> exclude_patterns;
};

// A client directory attached to a session under a name (`context`, `dockerfile`, ...).
// Thread-safe; files it opens are used by one thread at a time.
class ClientDir {
 public:
  virtual ~ClientDir() = default;
  // Calls fn for every entry that the patterns let through, parents before children, names
  // in byte order in each directory. Symlinks are reported, never followed. Stops at fn's first
  // error and returns it. Pattern errors are kInvalidArgument.
  virtual Status Walk(const WalkOptions& options, const std::function<Status(const FileEntry&)>& fn,
                      CancelContext* cancel = nullptr) = 0;
  // Opens a regular file by its walk path for reading. Every component is resolved inside the
  // directory without following symlinks: `..`, absolute paths and symlinks are refused
  // (kInvalidArgument / kPermissionDenied), a missing file is kNotFound.
  virtual Result<std::unique_ptr<ReadableFile>> OpenFile(std::string_view path) = 0;
};

// The engine's view of one client session.
class Session {
 public:
  virtual ~Session() = default;

  virtual const std::string& id() const = 0;
  // A key the client chose to recognise its own sessions across builds (BuildKit's SharedKey);
  // may be empty.
  virtual const std::string& shared_key() const = 0;

  // The read-only content store attached as `oci:<store_id>`: Info and ReaderAt work, Writer,
  // Delete and Walk are kPermissionDenied. Every blob read is verified against its digest as it
  // streams (see AttachedStore). Unknown ID: kNotFound `unknown store oci:<store_id>`.
  virtual Result<std::shared_ptr<content::ContentStore>> OciStore(std::string_view store_id) = 0;
  // The directory attached under `name`; kNotFound `unknown local dir <name>` otherwise.
  virtual Result<std::shared_ptr<ClientDir>> LocalDir(std::string_view name) = 0;
  // The secret's bytes; kNotFound `secret <id> not found` when there is no such secret.
  virtual Result<std::string> Secret(std::string_view id) = 0;
};

}  // namespace hoist::session
