// The client's build flags turned into what a solve needs: the frontend options map and a
// session with everything the client attached (SPEC-oci-layout.md §3; buildctl's --oci-layout,
// --local, --secret and --opt, buildx's --build-context).
//
//   --oci-layout ID=DIR            DIR (layout dir or OCI tarball) as store `oci:ID`
//   --build-context NAME=VALUE     VALUE one of
//       oci-layout://PATH[:TAG][@DIGEST]   attached under a random store ID; the frontend gets
//                                          context:NAME=oci-layout://<id>@<digest>
//       docker-image://REF, http(s)://..., git URLs, target:...   passed through unchanged
//       a local directory                  attached as local dir NAME; context:NAME=local:NAME
//   --local NAME=DIR               DIR attached as local dir NAME
//   --secret id=ID[,src=FILE|,env=VAR][,type=file|env]
//   --opt KEY=VALUE                a frontend option
//
// Errors name the flag and the input the user gave (these are the client's own messages, so
// they may show the client's paths).
//
// Thread-safety: functions are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/file_system.h"
#include "content/oci_layout.h"
#include "oci/digest.h"
#include "session/client_session.h"

namespace hoist::client {

struct BuildFlags {
  std::vector<std::string> oci_layouts;     // --oci-layout
  std::vector<std::string> build_contexts;  // --build-context
  std::vector<std::string> locals;          // --local
  std::vector<std::string> secrets;         // --secret
  std::vector<std::string> ssh;             // --ssh ID[=SOCKET] (ID "default": $SSH_AUTH_SOCK)
  std::vector<std::string> opts;            // --opt
};

struct PrepareOptions {
  FileSystem* fs = PosixFileSystem();
  // Store IDs for build contexts; tests may make them predictable.
  std::function<std::string()> new_store_id = session::NewRandomId;
  std::string shared_key;
};

struct PreparedBuild {
  std::map<std::string, std::string> frontend_attrs;
  std::shared_ptr<session::ClientSession> session;
};

// Parses every flag, resolves oci-layout contexts and attaches everything to a new session.
Result<PreparedBuild> PrepareBuild(const BuildFlags& flags, const PrepareOptions& options = {});

// --oci-layout ID=DIR → {ID, DIR}. kInvalidArgument
// `oci-layout option must be 'id=path/to/layout', instead had invalid <x>`.
Result<std::pair<std::string, std::string>> ParseOciLayoutFlag(std::string_view flag);

// NAME=VALUE for --build-context (`invalid build context <x>: expected NAME=VALUE`),
// --local (`invalid local <x>: expected NAME=DIR`) and --opt (`invalid opt <x>: expected
// KEY=VALUE`).
Result<std::pair<std::string, std::string>> ParseKeyValueFlag(std::string_view flag,
                                                              std::string_view what,
                                                              std::string_view expected);

struct SecretSpec {
  std::string id;
  std::string file;  // exactly one of file and env is set
  std::string env;
};
// Errors (kInvalidArgument): `invalid secret <x>: <field> must be a key=value pair`,
// `invalid secret <x>: unexpected key "<k>"`, `invalid secret <x>: unsupported type "<t>"`,
// `invalid secret <x>: secret ID missing`. With neither src nor env, the environment variable
// named ID is used.
Result<SecretSpec> ParseSecretFlag(std::string_view flag);

// Resolves the digest for an oci-layout context: the given one, else TAG (default `latest`) by
// `io.containerd.image.name`, then `org.opencontainers.image.ref.name`, then the only manifest.
// kNotFound `failed to resolve digest for <name>: <why>`. The layout stays open, to be attached.
struct OciLayoutContext {
  std::string path;
  oci::Digest digest;
  std::unique_ptr<content::OciLayout> layout;
};
Result<OciLayoutContext> ResolveOciLayoutContext(std::string_view name, std::string_view value,
                                                 FileSystem* fs);

}  // namespace hoist::client
