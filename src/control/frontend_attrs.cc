#include "control/frontend_attrs.h"

#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "frontend/dockerfile/directives.h"
#include "source/docker_image_source.h"

namespace hoist::control {
namespace {

constexpr std::string_view kBuildArg = "build-arg:";
constexpr std::string_view kLabel = "label:";

// Keys read elsewhere (named contexts by the frontend's named-context code) or that need no
// action here.
bool PassedThrough(std::string_view key) {
  return key.starts_with("context:") || key.starts_with("input-metadata:") ||
         key == "multi-platform" || key == "contextkey" || key == "dockerfilekey" ||
         key == "filename" || key == "target" || key == "platform" || key == "no-cache" ||
         key == "image-resolve-mode" || key == "hostname" || key == "cmdline" ||
         // The cache imports again, as clients of the gateway send them to the frontend: the
         // engine takes them from the solve request.
         key == "cache-imports" || key == "cache-from" ||
         // gateway.v0's frontend image, checked by CheckFrontend.
         key == "source" ||
         // A git repository as the build context, fetched by the controller.
         key == "context" ||
         // Attestations, made by the controller (provenance.h).
         key.starts_with("attest:");
}

Result<int64_t> ParseEpoch(const std::string& v) {
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || errno != 0 || *end != '\0' || n < 0) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid SOURCE_DATE_EPOCH \"{}\": not a number of seconds", v));
  }
  return static_cast<int64_t>(n);
}

}  // namespace

Result<FrontendSettings> ParseFrontendAttrs(const Attrs& attrs) {
  FrontendSettings s;
  frontend::dockerfile::ConvertOptions& co = s.convert;
  for (const auto& [key, value] : attrs) {
    if (key.starts_with(kBuildArg)) {
      co.build_args[key.substr(kBuildArg.size())] = value;
    } else if (key.starts_with(kLabel)) {
      co.labels[key.substr(kLabel.size())] = value;
    } else if (!PassedThrough(key)) {
      s.warnings.push_back(fmt::format("frontend option {} is not supported; ignored", key));
    }
  }
  co.frontend_opts = attrs;
  if (auto it = attrs.find("target"); it != attrs.end()) co.target = it->second;
  if (auto it = attrs.find("hostname"); it != attrs.end()) co.hostname = it->second;
  if (auto it = attrs.find("filename"); it != attrs.end() && !it->second.empty()) {
    s.filename = it->second;
  }
  if (auto it = attrs.find("contextkey"); it != attrs.end() && !it->second.empty()) {
    s.context_local = it->second;
  }
  if (auto it = attrs.find("dockerfilekey"); it != attrs.end() && !it->second.empty()) {
    s.dockerfile_local = it->second;
  }
  s.no_cache = attrs.contains("no-cache");
  if (auto it = attrs.find("image-resolve-mode"); it != attrs.end()) {
    HOIST_TRY(source::ParseResolveMode(it->second));
    co.image_resolve_mode = it->second;
  }
  if (auto it = co.build_args.find("SOURCE_DATE_EPOCH"); it != co.build_args.end()) {
    HOIST_ASSIGN_OR_RETURN(int64_t epoch, ParseEpoch(it->second));
    s.epoch = epoch;
    co.source_date_epoch = epoch;
  }
  // --platform a,b: one solve per platform, exported together (an index for images).
  const std::string platforms = attrs.contains("platform") ? attrs.at("platform") : "";
  for (size_t from = 0; from < platforms.size();) {
    size_t comma = platforms.find(',', from);
    if (comma == std::string::npos) comma = platforms.size();
    const std::string one = platforms.substr(from, comma - from);
    from = comma + 1;
    if (one.empty()) continue;
    HOIST_ASSIGN_OR_RETURN(oci::Platform p, oci::ParsePlatform(one));
    s.platforms.push_back(oci::Normalize(p));
  }
  if (s.platforms.empty()) s.platforms.push_back(std::nullopt);
  co.dockerfile_name = s.filename;
  co.context_name = s.context_local;
  // BUILDPLATFORM is where RUN steps execute: this machine.
  co.build_platform = oci::HostPlatform();
  return s;
}

namespace {

// docker/dockerfile, :latest and :1… (any digest): what the built-in frontend stands in for.
bool IsBuiltinDockerfileImage(std::string ref) {
  if (size_t at = ref.find('@'); at != std::string::npos) ref.resize(at);
  for (std::string_view prefix : {"docker.io/docker/dockerfile", "docker/dockerfile"}) {
    if (!ref.starts_with(prefix)) continue;
    std::string_view rest = std::string_view(ref).substr(prefix.size());
    if (rest.empty() || rest == ":latest" || rest.starts_with(":1")) return true;
  }
  return false;
}

}  // namespace

Result<std::optional<std::string>> CheckFrontend(std::string_view frontend, const Attrs& attrs) {
  if (frontend.empty() || frontend == "dockerfile.v0") return std::nullopt;
  if (frontend == "gateway.v0") {
    auto it = attrs.find("source");
    if (it == attrs.end() || it->second.empty()) {
      return MakeError(Code::kInvalidArgument, "frontend gateway.v0 needs --opt source=IMAGE");
    }
    if (IsBuiltinDockerfileImage(it->second)) {
      return std::optional<std::string>(fmt::format(
          "frontend gateway.v0 source {}: served by the built-in Dockerfile frontend",
          it->second));
    }
    return MakeError(Code::kUnimplemented,
                     fmt::format("frontend gateway.v0 source {}: only the built-in Dockerfile "
                                 "frontend (docker/dockerfile:1) is available; frontend images "
                                 "are not run",
                                 it->second));
  }
  return MakeError(Code::kUnimplemented,
                   fmt::format("frontend {} is not available; this engine has the built-in "
                               "dockerfile.v0",
                               frontend));
}

Result<std::optional<std::string>> CheckSyntaxDirective(std::string_view dockerfile) {
  auto d = frontend::dockerfile::DetectSyntax(dockerfile);
  if (!d) return std::nullopt;
  if (IsBuiltinDockerfileImage(d->ref)) {
    return std::optional<std::string>(
        fmt::format("syntax {}: served by the built-in Dockerfile frontend", d->ref));
  }
  return MakeError(Code::kUnimplemented,
                   fmt::format("Dockerfile:{}: syntax {}: only the built-in Dockerfile frontend "
                               "(docker/dockerfile:1) is available; frontend images are not run",
                               d->line, d->ref));
}

}  // namespace hoist::control
