// Named contexts (SPEC-oci-layout.md §2): the frontend options `context:<NAME>=<value>` and
// `context:<NAME>::<platform>` that replace a FROM base, a whole stage, or a COPY --from /
// RUN --mount from= source with an image, an OCI layout image, a local dir, a frontend input,
// an HTTP file or a git repository. Behaviour and wording follow BuildKit's dockerui
// NamedContext.
//
// Value types:
//   docker-image://REF   the image's config is resolved (registry resolver, the platform, the
//                        resolve mode) and the source pins the resolved digest; custom name
//                        `[context <name>] REF`. `docker-image://scratch` is the empty state.
//   oci-layout://STORE[:TAG]@DIGEST (the `//` optional)  resolved through the OCI layout
//                        resolver (session, store STORE, platform) under a dummy ref, the
//                        normalised context name with DIGEST (the store never appears in it);
//                        custom name `[context <name>] OCI load from client`, attrs
//                        oci.session / oci.store, cap source.ocilayout.
//   local:NAME           the client's local dir NAME, minus the patterns of its .dockerignore;
//                        custom name `[context <name>] load from client`, shared key hint
//                        `context:<name>-<sharedkey:localdir:<name> option>`.
//   input:KEY            the frontend input KEY; when the option `input-metadata:KEY` holds a
//                        JSON object whose `containerimage.config` member is the base64 of an
//                        image config (BuildKit's wire form), the input carries that config.
//   http(s)://URL        a git repository when the URL path ends in `.git`, else the file at
//                        URL, saved as `context`.
//   git URLs             `git://`, `git@host:path`, `ssh://`, `https://…/repo.git` with an
//                        optional `#ref:subdir` and BuildKit's query (`?ref=`, `tag=`,
//                        `branch=`, `subdir=`, `checksum=`, `keep-git-dir`, `submodules=`,
//                        `mtime=`, `fetch-by-commit`).
// Where a platform-specific option matched, `<name>` in custom names and errors is
// `NAME::<platform>`, as in BuildKit.
//
// Differences from BuildKit: the frontend cannot read files, so a local context's
// .dockerignore comes from NamedContextOptions::local_dockerignores instead of a metadata
// transfer; a local context's include patterns are not narrowed to the paths a stage copies;
// source policies that turn an image into another source type are not followed.
//
// Thread-safety: pure functions; the resolver is called from the calling thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "frontend/dockerfile/bridge.h"
#include "llb/state.h"
#include "oci/image_config.h"
#include "oci/platform.h"

namespace hoist::frontend::dockerfile {

struct NamedContextOptions {
  // The frontend options, `context:` keys among them (also `input-metadata:<KEY>` and
  // `sharedkey:localdir:<name>`). REQUIRES: non-null.
  const std::map<std::string, std::string>* frontend_opts = nullptr;
  // Resolves image and OCI layout configs. REQUIRES: non-null when a context names an image.
  ImageMetaResolver* resolver = nullptr;
  // The client's session, for local: and oci-layout sources that name none.
  std::string session_id;
  // Frontend inputs for `input:KEY` values. May be null (then no input exists).
  const std::map<std::string, llb::State>* inputs = nullptr;
  // The image resolve mode passed to the registry resolver for docker-image contexts:
  // "default", "pull" or "local"; empty is "default".
  std::string resolve_mode;
  // Local dirs served by another session than session_id, by local name. May be null.
  const std::map<std::string, std::string>* local_session_ids = nullptr;
  // The text of the .dockerignore at the root of each local dir, by local name; a missing
  // entry (or null) means the dir has none. Its patterns become the source's excludes.
  const std::map<std::string, std::string>* local_dockerignores = nullptr;
  // Ignores local_dockerignores (BuildKit's NoDockerignore).
  bool no_dockerignore = false;
};

// What a named context resolved to.
struct NamedContext {
  // The context's filesystem. For images, also the config's Env, WorkingDir and platform.
  llb::State state;
  // The image's config when the context is an image (docker-image, oci-layout, or an input
  // carrying one); its Env, WorkingDir, User... flow into the stage. docker-image configs
  // have `created` cleared, as BuildKit does.
  std::optional<oci::ImageConfig> image;
};

// Looks `name` up: first `context:<NAME>::<platform>` for `platform` (containerd's
// FormatAll of the normalised platform, e.g. `linux/arm/v7`), then `context:<NAME>`, NAME
// normalised as an image name (`docker.io/library/alpine:latest` → `alpine`, `:latest`
// dropped, other tags and digests kept). nullopt when neither option is set, when `name` is
// not a valid image name, and always for `scratch` and `context` (any case).
//
// `platform` is the platform the stage builds for; image sources and the resolver get it. An
// empty platform (no os, no architecture) means the engine's default: the host's is used for
// the lookup, and sources and the resolver get none.
//
// Errors are the SPEC's, exactly: `unsupported context source <type> for <name>`,
// `invalid context specifier <v> for <name>`, `oci-layout reference "<v>" has no digest`;
// BuildKit's: `invalid input <KEY> for <name>`, `invalid git context <v>`,
// `could not parse oci-layout reference "<v>": ...`, `failed to parse input metadata <v>: ...`,
// `failed to parse image config for <name>: ...`; and, prefixed with `context <name>: `,
// a docker-image reference that does not parse, the resolver's errors
// (`context <name>: load metadata for <ref>: <resolver error>`), a config that does not parse
// (`context <name>: image config of <ref>: ...`), bad .dockerignore patterns and bad git URLs.
Result<std::optional<NamedContext>> LoadNamedContext(std::string_view name,
                                                     const oci::Platform& platform,
                                                     const NamedContextOptions& options);

// A git repository URL given as the build context itself (the frontend option `context`, as
// buildx sends `docker buildx build https://host/repo.git#ref:subdir`): its source, named
// `[internal] load git source <value>`; nullopt when `value` is no git URL; an error for a git
// URL with a bad query.
Result<std::optional<llb::State>> GitBuildContext(std::string_view value);

}  // namespace hoist::frontend::dockerfile
