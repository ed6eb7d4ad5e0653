// Session: what the engine may ask of a client, and nothing more. A client attaches resources
// (OCI layout stores, local directories, secrets, where its outputs go) to a session; the engine
// reaches them only through the methods below, by name or ID, never by path. The in-process
// transport hands the engine the client's Session object itself (ClientSession); the gRPC
// transport puts a RemoteSession with the same interface on the engine's side, speaking
// BuildKit's session services (filesync, content store, secrets, auth) to the client's
// SessionServer.
//
// Privacy: nothing the engine gets from a Session (errors included) contains a client path.
// Registry credentials stay with the client: the engine asks for them per build and host, and
// they never appear in errors or logs on either side.
//
// Thread-safety: implementations are thread-safe; the objects they return are documented below.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "base/file_system.h"
#include "base/unique_fd.h"
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
  // Regular files only: when this file is a hard link of an earlier entry of the same walk, that
  // entry's path (the first path the walk met for the inode). Its size is the earlier entry's.
  std::string hardlink_to;
};

// What a walk includes, in .dockerignore pattern syntax (base/pattern_matcher.h), applied on
// the client side.
struct WalkOptions {
  // When non-empty, only paths matching one of these (or under a match) are sent, with the
  // directories leading to them.
  std::vector<std::string> include_patterns;
  // Paths matching these are left out (`!pattern` re-includes), as .dockerignore does.
  std::vector<std::string> exclude_patterns;
  // fsutil's FollowPaths: each path, with every symlink on it resolved inside the directory
  // (the symlinks themselves and their targets), becomes one more include pattern. A path that
  // is the whole directory ("." or "") adds none. The last component of a path may hold
  // wildcards.
  std::vector<std::string> follow_paths;
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
  // Streams the regular file at `path` to `sink` in chunks, with OpenFile's confinement and
  // errors; stops at the sink's first error and returns it. Remote directories read the files
  // of their last Walk on that walk's transfer, so a sync streams every file it needs without
  // buffering it. The default reads through OpenFile.
  virtual Status ReadFile(std::string_view path,
                          const std::function<Status(std::string_view chunk)>& sink);
  // A hint: the regular files of the last Walk the caller reads next with ReadFile, in this
  // order. A remote directory asks the client for several of them at once instead of one
  // after the other. Reading others, or skipping some, stays correct. The default ignores it.
  virtual void Prefetch(const std::vector<std::string>& paths) { (void)paths; }
  // Whether Prefetch does anything here: callers skip working out the list otherwise.
  virtual bool ReadsAhead() const { return false; }
  // The directory itself, when it is on the engine's own disk and may be read in place (the
  // in-process transport): a new O_PATH descriptor of it, never its path. Invalid otherwise
  // (the default: a remote directory is only reached through Walk and ReadFile).
  virtual UniqueFd OpenInPlace() { return UniqueFd(); }
};

// The whole regular file `path` of `dir`, read with ReadFile; kResourceExhausted
// (`PATH: larger than N bytes`) once it passes `max_bytes`.
Result<std::string> ReadWholeFile(ClientDir& dir, std::string_view path, uint64_t max_bytes);

// A file the engine streams to the client's output (an exported tarball). What is written
// appears at the client's destination only when Commit succeeds; an OutputFile destroyed
// without a successful Commit leaves nothing there (a file destination keeps its old contents,
// if any; bytes already written to a stream destination such as stdout cannot be taken back).
// Used by one thread at a time.
class OutputFile {
 public:
  virtual ~OutputFile() = default;
  // Appends `data`. After an error the file is unusable and will not be committed.
  virtual Status Write(std::string_view data) = 0;
  // Makes what was written the client's output, once.
  virtual Status Commit() = 0;
};

// Registry credentials a client lends the engine for one host, as BuildKit's Auth.Credentials
// answers: a username and password, or an empty username and an identity token (an OAuth2
// refresh token) as `secret`.
struct RegistryCredentials {
  std::string username;
  std::string secret;
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
  // streams (see AttachedStore). Unknown ID: kNotFound `unknown store oci:<store_id>`, from
  // this call or, over a remote session (where asking costs a round trip), from the store's
  // first call.
  virtual Result<std::shared_ptr<content::ContentStore>> OciStore(std::string_view store_id) = 0;
  // The directory attached under `name`; kNotFound `unknown local dir <name>` otherwise, from
  // this call or, over a remote session, from the directory's first transfer.
  virtual Result<std::shared_ptr<ClientDir>> LocalDir(std::string_view name) = 0;
  // The secret's bytes; kNotFound `secret <id> not found` when there is no such secret.
  virtual Result<std::string> Secret(std::string_view id) = 0;
  // The client's credentials for registry `host` (as the engine dials it: `host[:port]`,
  // `registry-1.docker.io` for Docker Hub). nullopt: the client has none for it, or lends none
  // (the default). An error is the client's failure to look them up (a broken config file, a
  // failing credential helper); it never contains a secret or a client path.
  virtual Result<std::optional<RegistryCredentials>> Credentials(std::string_view host);
  // SSH agent forwarding (`--ssh ID=...`): OK when the client forwards an agent as `id`, else
  // kNotFound `no SSH key "<id>" forwarded from the client`.
  virtual Status CheckSSH(std::string_view id);
  // A new connection to the client's agent `id`: a socket speaking the agent protocol
  // (read-only: listing identities and signing). kNotFound as CheckSSH.
  virtual Result<UniqueFd> ForwardSSH(std::string_view id);

  // --- outputs: where the client said an export goes ---
  // The defaults say the session takes no outputs (kFailedPrecondition).

  // The file (or stream) the client attached for a single-file export: type=tar, oci, docker.
  // `exporter_metadata` is passed to the client with the file (BuildKit's exporter-md-*).
  // kFailedPrecondition when the client attached no output file; one output file is written at
  // a time.
  virtual Result<std::unique_ptr<OutputFile>> OpenOutputTar(
      const std::map<std::string, std::string>& exporter_metadata);
  // Sends the directory tree at `dir` (a path on the engine's side) to the directory the client
  // attached (type=local), merging into what is there as BuildKit's local exporter does. The
  // client writes only below its directory, owns what it writes, and refuses names that would
  // leave it. kFailedPrecondition when the client attached no output directory.
  virtual Status SendOutputDir(const std::string& dir, CancelContext* cancel = nullptr);
  // The content store of the OCI layout directory the client attached for type=oci,tar=false
  // (BuildKit's store `export`): Info, ReaderAt and Writer work, every blob is verified by the
  // client at Commit, Delete and Walk are kPermissionDenied. The client updates the layout's
  // index itself once the build is done. kFailedPrecondition when it attached none.
  virtual Result<std::shared_ptr<content::ContentStore>> OutputStore();

  // --- build caches (`--cache-to/--cache-from type=local`) ---

  // The content store the client attached for a local cache under `key` (BuildKit's store
  // `local:<key>`, the cache entry's `dest` or `src`). The key is only a name, but a client such
  // as buildctl uses its directory's path, so it is private: no error (nor anything else the
  // store says) contains it. Read (writable false): Info and ReaderAt, every blob verified as it
  // streams, as OciStore. Writable (for an export): Writer too, a blob appearing only after the
  // client verified it at Commit, as OutputStore; Delete and Walk are kPermissionDenied either
  // way. kNotFound when the client attached no cache store under `key`, kPermissionDenied when
  // it attached it for reading only and a writable one is asked for, kInvalidArgument when the
  // key cannot be sent to the client. The default: kNotFound.
  virtual Result<std::shared_ptr<content::ContentStore>> CacheStore(std::string_view key,
                                                                    bool writable);
};

// The error CacheStore gives for a key the client did not attach (the key left out).
Error UnknownCacheStore();
// The error CheckSSH and ForwardSSH give for an agent the client does not forward.
Error SSHNotForwarded(std::string_view id);

}  // namespace hoist::session
