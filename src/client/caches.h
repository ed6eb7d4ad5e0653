// Local build caches (`--cache-to type=local,dest=DIR`, `--cache-from type=local,src=DIR`),
// kept on the client as buildctl keeps them (BuildKit v0.11's client/solve.go): the engine
// reads and writes a cache only through the session's content store `local:<key>`, and the
// client alone touches the directory.
//
//   export  DIR is created or opened as an OCI layout and attached writable; the entry sent to
//           the engine carries a random key as `dest` instead of the path. After the solve, the
//           cache manifest the engine reports (`cache.manifest`) is named in DIR's index.json
//           under the entry's `tag` (default `latest`), replacing that tag's previous entry,
//           under the layout's lock (OciLayout::Put).
//   import  `tag` (default `latest`) is resolved in DIR's index.json here, unless a `digest` is
//           given; DIR is attached read-only and the entry carries a random key as `src` and the
//           digest. A missing or unreadable layout, or a missing tag, only warns: the entry is
//           dropped and the build goes on.
//
// Thread-safety: functions over the values and session they are given.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/file_system.h"
#include "content/oci_layout.h"
#include "control/solve_request.h"
#include "session/client_session.h"

namespace hoist::client {

// What AttachCaches left to do after the solve.
struct AttachedCaches {
  struct Export {
    std::shared_ptr<content::OciLayout> layout;
    std::string path;  // as the user gave it, for the client's own messages
    content::LayoutName tag;
  };
  std::vector<Export> exports;
  // Imports dropped, for the client to show (they may name its paths).
  std::vector<std::string> warnings;
};

struct CacheAttachOptions {
  FileSystem* fs = PosixFileSystem();
  // Store keys; tests may make them predictable.
  std::function<std::string()> new_key = session::NewRandomId;
};

// Attaches the local caches of `exports` and `imports` (entries ValidateCacheEntry accepted)
// to `session` and rewrites their attributes as described above; other types are left alone.
// Errors are the client's own and may name its paths: a `tag` that is not a valid tag, a dest
// that cannot be made a layout.
Result<AttachedCaches> AttachCaches(session::ClientSession& session,
                                    std::vector<control::TypedAttrs>* exports,
                                    std::vector<control::TypedAttrs>* imports,
                                    const CacheAttachOptions& options = {});

// Names the cache manifest from the exporter response (`cache.manifest`) in every local cache
// directory exported to. The manifest must be in each (kDataLoss otherwise), as the engine
// wrote it there. No local cache export: nothing to do.
Status FinishCaches(const AttachedCaches& caches,
                    const std::map<std::string, std::string>& exporter_response);

}  // namespace hoist::client
