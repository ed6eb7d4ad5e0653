// ConvertToLLB: the last stage of the Dockerfile frontend (parse → instructions → convert),
// BuildKit's dockerfile2llb. A Dockerfile becomes the LLB graph of its target stage plus the
// image config the build exports, with BuildKit's semantics: stages and meta ARGs, ARG scoping
// and build-arg overrides, the automatic platform args, multi-stage references by name or
// index, unused stages pruned, named contexts, RUN mounts, COPY/ADD FileOps, ONBUILD, history
// entries and the custom op names progress output shows.
//
//   ConvertOptions opts;
//   opts.build_args = {{"VERSION", "1.2"}};
//   opts.resolver = &resolver;  // may be null: base image configs then start empty
//   HOIST_ASSIGN_OR_RETURN(ConvertResult res, ConvertToLLB(dockerfile_text, opts));
//   // res.definition is ready to solve; res.image is the config to export.
//
// Errors are kInvalidArgument (kNotFound for an unknown --target) and carry the line of the
// instruction at fault: `Dockerfile:7: unknown instruction ...`; resolver errors keep their
// code and are prefixed with the FROM line and the image name.
//
// Thread-safety: ConvertToLLB is reentrant; the resolver is called from the calling thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error.h"
#include "frontend/dockerfile/bridge.h"
#include "frontend/dockerfile/parser.h"
#include "llb/definition.h"
#include "llb/state.h"
#include "oci/image_config.h"
#include "oci/platform.h"

namespace hoist::frontend::dockerfile {

struct ConvertOptions {
  // --build-arg values; they override ARG defaults (global and per stage) and the automatic
  // platform args.
  std::map<std::string, std::string> build_args;
  // The stage to build (--target); empty: the last one.
  std::string target;
  // The platforms to build for. Empty: the build platform, implicitly (the result's platform
  // then follows the base image's). Only the first is converted today; the field is a list so
  // that multi-platform requests can grow into it.
  std::vector<oci::Platform> target_platforms;
  // Where RUN steps execute (BUILDPLATFORM); nullopt: the first target platform if one was
  // given, else the host's.
  std::optional<oci::Platform> build_platform;
  // The frontend options (`context:<name>=...` named contexts among them).
  std::map<std::string, std::string> frontend_opts;
  // Frontend inputs for `context:<name>=input:<key>`.
  std::map<std::string, llb::State> inputs;
  // Resolves base image configs. Not owned; may be null, in which case docker-image configs
  // are not resolved and each stage's config starts empty.
  ImageMetaResolver* resolver = nullptr;
  // Whether FROM images that no named context replaces are resolved through `resolver` (their
  // configs and digests); false leaves them unresolved, as with no resolver, while named
  // contexts still use it (`hoist build --print-llb` without a registry).
  bool resolve_registry_images = true;
  // "default", "pull" or "local": BuildKit's image resolve modes.
  std::string image_resolve_mode = "default";
  // The client session that serves the build context.
  std::string session_id;
  // The contents of the context's .dockerignore; its patterns become the context's excludes.
  std::string dockerignore;
  // The build context when it is not the client's directory (a git repository: see
  // GitBuildContext); then no .dockerignore applies, as in BuildKit.
  std::optional<llb::State> context_state;
  // The local name of the build context and the Dockerfile's name (for messages).
  std::string context_name = "context";
  std::string dockerfile_name = "Dockerfile";
  // SOURCE_DATE_EPOCH (seconds); when set it stamps history entries and new directories and
  // is passed to the build as the SOURCE_DATE_EPOCH arg. A SOURCE_DATE_EPOCH build arg wins.
  std::optional<int64_t> source_date_epoch;
  // Labels added to the image config of the target (--label).
  std::map<std::string, std::string> labels;
  // The hostname RUN steps see; empty: the engine's default.
  std::string hostname;
  // local.unique for the context source when there is no session ID (see llb::MarshalOptions).
  std::string local_unique_id;
};

struct ConvertResult {
  // The target stage's filesystem and its marshalled graph.
  llb::State state;
  llb::Definition definition;
  // The image config to export: the base image's, updated by the stage's instructions.
  oci::ImageConfig image;
  // The target's base image config as resolved, if it came from an image.
  std::optional<oci::ImageConfig> base_image;
  // Problems that do not stop the build (unused build args, parser warnings...).
  std::vector<Warning> warnings;
};

Result<ConvertResult> ConvertToLLB(std::string_view dockerfile, const ConvertOptions& options);

// The Dockerfile lines an op came from, as the conversion records them in the op's description
// (`hoist.dockerfile.lines` = "START:END"); nullopt when it has none.
inline constexpr std::string_view kDescriptionDockerfileLines = "hoist.dockerfile.lines";
std::optional<std::pair<int, int>> DockerfileLines(const llb::OpMetadata& metadata);

}  // namespace hoist::frontend::dockerfile
