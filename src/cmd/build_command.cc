#include "cmd/build_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/base64.h"
#include "base/csv.h"
#include "base/hash.h"
#include "client/build_options.h"
#include "client/caches.h"
#include "client/output_spec.h"
#include "client/outputs.h"
#include "client/remote_engine.h"
#include "cmd/engine.h"
#include "cmd/progress_display.h"
#include "cmd/registry_wiring.h"
#include "control/cache_transfer.h"
#include "control/controller.h"
#include "control/dockerfile_source.h"
#include "control/exporters.h"
#include "control/frontend_attrs.h"
#include "control/image_resolver.h"
#include "frontend/dockerfile/convert.h"
#include "frontend/dockerfile/named_context.h"
#include "llb/dump.h"
#include "progress/event.h"
#include "solver/entitlements.h"

namespace hoist::cmd {
namespace {

struct BuildArgs {
  std::string context;
  std::string file;
  std::vector<std::string> tags;
  std::vector<std::string> build_args;
  std::vector<std::string> labels;
  std::string target;
  std::string platform;
  std::vector<std::string> outputs;
  std::string progress = "auto";
  bool no_cache = false;
  bool print_llb = false;
  std::string metadata_file;
  std::string runtime;
  std::vector<std::string> cache_to;
  std::vector<std::string> cache_from;
  bool pull = false;
  bool push = false;
  std::vector<std::string> allow;  // --allow: entitlements the build asks for
  std::vector<std::string> attests;  // --attest
  std::string provenance;            // --provenance
  std::string sbom;                  // --sbom
  client::BuildFlags flags;
};

control::TypedAttrs Typed(client::OutputSpec spec) {
  return {.type = std::move(spec.type), .attrs = std::move(spec.attrs)};
}

// The outputs as the exporters take them: -t tags become the `name` of image outputs without
// one, and --push makes the image output push (or adds a registry output), as buildx does.
Result<std::vector<control::TypedAttrs>> Exporters(const BuildArgs& args) {
  std::vector<control::TypedAttrs> out;
  for (const std::string& o : args.outputs) {
    HOIST_ASSIGN_OR_RETURN(client::OutputSpec spec, client::ParseOutputSpec(o));
    out.push_back(Typed(std::move(spec)));
  }
  if (args.push) {
    bool found = false;
    for (control::TypedAttrs& o : out) {
      if (o.type == "image" || o.type == "registry") {
        o.attrs["push"] = "true";
        found = true;
      }
    }
    if (!found) out.push_back({.type = "registry", .attrs = {}});
  }
  std::string tags;
  for (const std::string& t : args.tags) tags += (tags.empty() ? "" : ",") + t;
  for (control::TypedAttrs& o : out) {
    const bool named = o.type == "image" || o.type == "registry" || o.type == "oci" ||
                       o.type == "docker";
    if (named && !tags.empty()) o.attrs.try_emplace("name", tags);
  }
  return out;
}

Result<std::vector<control::TypedAttrs>> CacheEntries(const std::vector<std::string>& values,
                                                      const char* flag, const char* path_key) {
  std::vector<control::TypedAttrs> out;
  for (const std::string& v : values) {
    HOIST_ASSIGN_OR_RETURN(client::OutputSpec spec, client::ParseOutputSpec(v));
    out.push_back(Typed(std::move(spec)));
    HOIST_TRY(control::ValidateCacheEntry(out.back(), flag, path_key));
  }
  return out;
}

// --attest, --provenance and --sbom as buildx sends them: `attest:TYPE` with the flag's whole
// CSV value (`type=provenance,mode=max`); `--provenance=true` is `type=provenance,enabled=true`;
// a disabled type is not sent. Without a provenance flag (or `--opt attest:provenance=…`),
// min provenance, attached only where images are stored, unless
// HOIST_NO_DEFAULT_ATTESTATIONS (or buildx's BUILDX_NO_DEFAULT_ATTESTATIONS) is true.
Status AddAttestations(const BuildArgs& args, control::Attrs* attrs) {
  std::vector<std::string> values = args.attests;
  auto shorthand = [&](const char* type, const std::string& v) {
    if (v.empty()) return;
    if (auto b = ParseBool(type, v)) {
      values.push_back(fmt::format("type={},enabled={}", type, *b ? "true" : "false"));
    } else {
      values.push_back(fmt::format("type={},{}", type, v));
    }
  };
  shorthand("provenance", args.provenance);
  shorthand("sbom", args.sbom);
  std::set<std::string> seen;
  for (const std::string& v : values) {
    HOIST_ASSIGN_OR_RETURN(std::vector<std::string> fields, SplitCsv(v));
    std::string type;
    bool enabled = true;
    for (const std::string& f : fields) {
      const size_t eq = f.find('=');
      if (eq == std::string::npos) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("--attest {}: invalid value {}", v, f));
      }
      std::string key = f.substr(0, eq);
      for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (key == "type") type = f.substr(eq + 1);
      if (key == "enabled") {
        HOIST_ASSIGN_OR_RETURN(enabled, ParseBool("enabled", f.substr(eq + 1)));
      }
    }
    if (type.empty()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("--attest {}: attestation type not specified", v));
    }
    if (!seen.insert(type).second) {
      return MakeError(Code::kInvalidArgument, fmt::format("duplicate attestation field {}", type));
    }
    if (enabled) (*attrs)["attest:" + type] = v;
  }
  auto env_true = [](const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr) return Result<bool>(false);
    return ParseBool(name, v);
  };
  HOIST_ASSIGN_OR_RETURN(bool no_default, env_true("HOIST_NO_DEFAULT_ATTESTATIONS"));
  HOIST_ASSIGN_OR_RETURN(bool no_default_bx, env_true("BUILDX_NO_DEFAULT_ATTESTATIONS"));
  if (!seen.contains("provenance") && !no_default && !no_default_bx) {
    attrs->try_emplace("attest:provenance", "mode=min,inline-only=true");
  }
  return OkStatus();
}

// The Dockerfile frontend's attributes, as buildx sends them for the same flags.
Result<control::Attrs> FrontendAttrs(const BuildArgs& args, const std::string& file_name,
                                     control::Attrs attrs) {
  HOIST_TRY(AddAttestations(args, &attrs));
  for (const std::string& a : args.build_args) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos) {
      if (const char* v = std::getenv(a.c_str())) attrs["build-arg:" + a] = v;
      continue;
    }
    attrs["build-arg:" + a.substr(0, eq)] = a.substr(eq + 1);
  }
  for (const std::string& l : args.labels) {
    const size_t eq = l.find('=');
    attrs["label:" + l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  // buildx passes SOURCE_DATE_EPOCH from its environment as a build argument.
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch != nullptr && *epoch != '\0') {
    attrs.try_emplace("build-arg:SOURCE_DATE_EPOCH", epoch);
  }
  attrs["filename"] = file_name;
  if (!args.target.empty()) attrs["target"] = args.target;
  if (!args.platform.empty()) attrs["platform"] = args.platform;
  if (args.no_cache) attrs["no-cache"] = "";
  if (args.pull) attrs["image-resolve-mode"] = "pull";
  return attrs;
}

Status WriteMetadataFile(const std::string& path,
                         const std::map<std::string, std::string>& response) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [key, value] : response) {
    // As buildx: values that are base64 of JSON (containerimage.descriptor) are written as JSON.
    if (auto decoded = Base64Decode(value)) {
      auto parsed = nlohmann::json::parse(*decoded, nullptr, false);
      if (!parsed.is_discarded() && parsed.is_object()) {
        j[key] = std::move(parsed);
        continue;
      }
    }
    j[key] = value;
  }
  return WriteFileAtomic(PosixFileSystem(), path, j.dump(2) + "\n");
}

std::atomic<CancelContext*> g_cancel{nullptr};

void OnSignal(int) {
  if (CancelContext* c = g_cancel.load()) c->Cancel("context canceled");
}

// --print-llb: the frontend alone, on the client, with no engine and no registry.
Status PrintLlb(const control::SolveRequest& request,
                const std::shared_ptr<session::ClientSession>& session) {
  HOIST_ASSIGN_OR_RETURN(control::FrontendSettings settings,
                         control::ParseFrontendAttrs(request.frontend_attrs));
  session::SessionManager sessions;
  HOIST_TRY(sessions.Register(session));
  HOIST_ASSIGN_OR_RETURN(std::string dockerfile,
                         control::ReadClientFile(*session, settings.dockerfile_local,
                                                 settings.filename, false));
  control::EngineImageResolver resolver(&sessions, {session->id()});
  frontend::dockerfile::ConvertOptions co = settings.convert;
  co.resolver = &resolver;
  co.resolve_registry_images = false;
  co.session_id = session->id();
  if (settings.platforms.front()) co.target_platforms = {*settings.platforms.front()};
  HOIST_ASSIGN_OR_RETURN(auto converted, frontend::dockerfile::ConvertToLLB(dockerfile, co));
  HOIST_ASSIGN_OR_RETURN(std::string dump, llb::DumpLLB(converted.definition));
  std::fwrite(dump.data(), 1, dump.size(), stdout);
  return OkStatus();
}

// Shows progress and collects the warnings that belong to no vertex, printed at the end.
class WarningCollector final : public progress::ProgressWriter {
 public:
  explicit WarningCollector(progress::ProgressWriter* next) : next_(next) {}
  void Write(progress::SolveStatus status) override {
    std::vector<progress::VertexWarning> keep;
    {
      std::lock_guard lock(mu_);
      for (auto& w : status.warnings) {
        if (w.vertex.empty()) {
          loose_.push_back(std::move(w.short_message));
        } else {
          keep.push_back(std::move(w));
        }
      }
    }
    status.warnings = std::move(keep);
    if (!status.empty()) next_->Write(std::move(status));
  }
  void Print() {
    std::lock_guard lock(mu_);
    for (const std::string& w : loose_) std::fprintf(stderr, "WARNING: %s\n", w.c_str());
    loose_.clear();
  }

 private:
  progress::ProgressWriter* next_;
  std::mutex mu_;
  std::vector<std::string> loose_;
};

// Attaches the context directory and the Dockerfile's directory to the session; the
// Dockerfile's name in its directory.
Result<std::string> AttachLocalContext(const BuildArgs& args, session::ClientSession& session) {
  if (auto st = session.AttachLocalDir("context", args.context); !st) {
    return MakeError(st.error().code(),
                     fmt::format("unable to prepare context: path \"{}\" not found", args.context));
  }
  const std::string file = args.file.empty() ? args.context + "/Dockerfile" : args.file;
  const size_t slash = file.rfind('/');
  const std::string file_dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
  if (auto st = session.AttachLocalDir("dockerfile", file_dir); !st) {
    return MakeError(st.error().code(),
                     fmt::format("failed to read dockerfile: open {}: no such file or directory",
                                 file));
  }
  // The client names its own path in this message; the engine only knows the file's name.
  if (struct stat sb; ::stat(file.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    return MakeError(Code::kNotFound,
                     fmt::format("failed to read dockerfile: open {}: no such file or directory",
                                 file));
  }
  return slash == std::string::npos ? file : file.substr(slash + 1);
}

Status RunBuild(const BuildArgs& args, const GlobalOptions& global) {
  if (args.context.empty()) return MakeError(Code::kInvalidArgument, "build needs a CONTEXT");
  control::SolveRequest request;
  HOIST_ASSIGN_OR_RETURN(request.exporters, Exporters(args));
  for (const control::TypedAttrs& e : request.exporters) HOIST_TRY(control::ValidateExporter(e));
  HOIST_ASSIGN_OR_RETURN(request.cache_exports, CacheEntries(args.cache_to, "--cache-to", "dest"));
  HOIST_ASSIGN_OR_RETURN(request.cache_imports,
                         CacheEntries(args.cache_from, "--cache-from", "src"));
  for (const std::string& a : args.allow) {
    // buildx accepts a comma-separated list too.
    for (size_t from = 0; from <= a.size();) {
      size_t comma = a.find(',', from);
      if (comma == std::string::npos) comma = a.size();
      const std::string name = a.substr(from, comma - from);
      from = comma + 1;
      if (name.empty()) continue;
      if (auto e = solver::ParseEntitlement(name); !e) {
        return Unexpected(std::move(e).error().Wrap("--allow"));
      }
      request.entitlements.push_back(name);
    }
  }

  // A daemon's connection is made (gRPC started, the channel dialled: about a millisecond), or
  // the embedded engine opened (its root locked, its stores and cache opened: a few
  // milliseconds), on another thread while the session is prepared.
  const std::string addr = client::DaemonAddress(global.addr);
  client::ProcessRemoteEngine remote;
  std::future<Result<std::unique_ptr<client::RemoteEngine>>> dialling;
  std::future<Result<std::unique_ptr<Engine>>> opening;
  if (!addr.empty() && !args.print_llb) {
    dialling = std::async(std::launch::async,
                          [&] { return client::RemoteEngine::Dial(addr, global.tls); });
  } else if (addr.empty() && !args.print_llb) {
    HOIST_ASSIGN_OR_RETURN(int64_t layer_memory, ParseLayerMemory(global.layer_memory));
    opening = std::async(std::launch::async, [&args, &global, layer_memory] {
      return Engine::Open({.root = global.root,
                           .runtime = args.runtime,
                           .snapshotter = global.snapshotter,
                           .layer_memory = layer_memory,
                           .config_file = global.config});
    });
  }

  // Client side: attach the context, the Dockerfile's directory, stores and secrets.
  // The engine keeps a mirror of the context per client and directory (the session's shared
  // key, as buildx derives it from its node and the path), so a rebuild sends only changes.
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  std::string context_abs = args.context;
  if (char* real = ::realpath(args.context.c_str(), nullptr)) {
    context_abs = real;
    std::free(real);
  }
  HOIST_ASSIGN_OR_RETURN(
      client::PreparedBuild prepared,
      client::PrepareBuild(args.flags,
                           {.shared_key = Sha256Hex(std::string(host) + ":" + context_abs)
                                              .substr(0, 32)}));
  std::shared_ptr<session::ClientSession> session = prepared.session;
  // The engine asks for registry credentials through the session, per build: the client's
  // own docker config (DOCKER_CONFIG, HOME) and credential helpers, with hoistd too.
  HOIST_TRY(session->AttachRegistryCredentials(
      SessionCredentialsLookup(std::make_shared<registry::DockerConfigCredentials>())));
  // A git URL as CONTEXT (as buildx takes it): the engine fetches the repository, and the
  // Dockerfile (-f: a path inside it) comes from there too; nothing local is attached.
  HOIST_ASSIGN_OR_RETURN(std::optional<llb::State> git_context,
                         frontend::dockerfile::GitBuildContext(args.context));
  if (git_context) {
    if (args.print_llb) {
      return MakeError(Code::kInvalidArgument,
                       "--print-llb needs the Dockerfile on this machine; a git context's "
                       "Dockerfile is read by the engine");
    }
    prepared.frontend_attrs["context"] = args.context;
    HOIST_ASSIGN_OR_RETURN(request.frontend_attrs,
                           FrontendAttrs(args, args.file.empty() ? "Dockerfile" : args.file,
                                         std::move(prepared.frontend_attrs)));
  } else {
    HOIST_ASSIGN_OR_RETURN(std::string file_name, AttachLocalContext(args, *session));
    HOIST_ASSIGN_OR_RETURN(request.frontend_attrs,
                           FrontendAttrs(args, file_name, std::move(prepared.frontend_attrs)));
  }
  HOIST_ASSIGN_OR_RETURN(client::AttachedOutputs outputs,
                         client::AttachOutputs(*session, &request.exporters));
  request.session_id = session->id();
  request.ref = session::NewRandomId();
  if (args.print_llb) return PrintLlb(request, session);
  // Local caches: the client reads and writes their directories, the engine only the session's
  // stores.
  HOIST_ASSIGN_OR_RETURN(client::AttachedCaches caches,
                         client::AttachCaches(*session, &request.cache_exports,
                                              &request.cache_imports));
  if (!request.cache_imports.empty()) {
    // As buildctl: BuildKit's Dockerfile frontend imports what this attribute lists.
    nlohmann::json imports = nlohmann::json::array();
    for (const control::TypedAttrs& e : request.cache_imports) {
      imports.push_back({{"Type", e.type}, {"Attrs", e.attrs}});
    }
    request.frontend_attrs["cache-imports"] = imports.dump();
  }

  auto cancel = CancelContext::Background();
  g_cancel = cancel.get();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (request.exporters.empty()) {
    std::fprintf(stderr, "WARNING: No output specified; the build result will only remain in "
                         "the build cache. Use -o type=oci,dest=FILE (or --output) to keep it.\n");
  }
  std::unique_ptr<Engine> engine;
  if (addr.empty()) {
    HOIST_ASSIGN_OR_RETURN(engine, opening.get());
    HOIST_TRY(engine->sessions().Register(session));
  } else {
    // Solve waits for the connection once it has prepared its request.
    HOIST_ASSIGN_OR_RETURN(auto dialled, dialling.get());
    remote.reset(dialled.release());
  }
  HOIST_ASSIGN_OR_RETURN(auto display, ProgressDisplay::Start(args.progress));
  WarningCollector warnings(display->writer());
  std::string excerpt;
  Result<std::map<std::string, std::string>> response = std::map<std::string, std::string>{};
  if (engine) {
    control::Controller controller(engine->parts());
    control::SolveFailure failure;
    auto solved = controller.Solve(request, &warnings, cancel, &failure);
    if (solved) response = std::move(solved->exporter_response);
    else response = Unexpected(std::move(solved).error());
    excerpt = std::move(failure.excerpt);
    engine->sessions().Unregister(session->id());
  } else {
    client::RemoteFailure failure;
    response = remote->Solve(request, session, &warnings, cancel.get(), &failure);
    excerpt = std::move(failure.excerpt);
  }
  display->Finish();
  warnings.Print();
  for (const std::string& w : caches.warnings) std::fprintf(stderr, "WARNING: %s\n", w.c_str());
  if (!response && !excerpt.empty()) std::fputs(excerpt.c_str(), stderr);
  g_cancel = nullptr;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  HOIST_TRY(response);
  HOIST_TRY(client::FinishOutputs(*session, outputs, *response));
  HOIST_TRY(client::FinishCaches(caches, *response));
  if (!args.metadata_file.empty()) {
    HOIST_TRY(WriteMetadataFile(args.metadata_file, *response));
  }
  return OkStatus();
}

}  // namespace

void RegisterBuildCommand(CLI::App& app, const GlobalOptions* global, Status* status) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* b = app.add_subcommand("build", "Build an image from a Dockerfile");
  b->add_option("CONTEXT", args->context, "Build context: a directory, or a git repository URL")->required();
  b->add_option("-f,--file", args->file, "Name of the Dockerfile (default: CONTEXT/Dockerfile)");
  b->add_option("-t,--tag", args->tags, "Name and optionally a tag (name:tag); repeatable");
  b->add_option("--build-arg", args->build_args, "Set a build-time variable (KEY=VALUE)");
  b->add_option("--build-context", args->flags.build_contexts,
                "Additional build context (NAME=oci-layout://PATH[:TAG][@DIGEST], "
                "NAME=docker-image://REF, NAME=PATH)");
  b->add_option("--oci-layout", args->flags.oci_layouts, "Attach an OCI layout as store ID=DIR");
  b->add_option("--opt", args->flags.opts, "Frontend option KEY=VALUE (buildctl spelling)");
  b->add_option("--local", args->flags.locals, "Attach a local directory NAME=DIR");
  b->add_option("--secret", args->flags.secrets,
                "Secret to expose to the build (id=ID,src=FILE or id=ID,env=VAR)");
  b->add_option("--ssh", args->flags.ssh,
                "SSH agent socket to expose to the build (default|ID[=SOCKET])");
  b->add_option("--label", args->labels, "Set metadata for an image (KEY=VALUE)");
  b->add_option("--target", args->target, "Target build stage");
  b->add_option("--platform", args->platform, "Target platform (os/arch[/variant])");
  b->add_option("-o,--output", args->outputs,
                "Output destination (type=local|tar|oci|docker,dest=...; type=image|registry,"
                "name=REF[,push=true]; or a directory; - for a tar on stdout)");
  b->add_option("--progress", args->progress, "Progress output: auto, tty, plain, rawjson, quiet")
      ->check(CLI::IsMember({"auto", "tty", "plain", "rawjson", "quiet"}));
  b->add_flag("--no-cache", args->no_cache, "Do not use the build cache");
  b->add_flag("--print-llb", args->print_llb,
              "Print the build graph as JSON, one op per line, instead of building");
  b->add_option("--metadata-file", args->metadata_file, "Write build result metadata to a file");
  b->add_option("--cache-to", args->cache_to,
                "Export build cache (type=local,dest=DIR[,mode=min|max][,tag=T] or "
                "type=registry,ref=NAME[:TAG][,mode=min|max])");
  b->add_option("--cache-from", args->cache_from,
                "Import build cache (type=local,src=DIR[,tag=T] or type=registry,ref=NAME[:TAG])");
  b->add_option("--runtime", args->runtime, "OCI runtime: runc, crun or a path (default: probe)");
  b->add_flag("--pull", args->pull, "Always attempt to pull all referenced images");
  b->add_flag("--push", args->push, "Shorthand for --output=type=registry");
  b->add_option("--attest", args->attests,
                "Attestation parameters (type=provenance,mode=max or type=sbom); repeatable");
  b->add_option("--provenance", args->provenance,
                "Shorthand for --attest=type=provenance (true, false, mode=min, mode=max)");
  b->add_option("--sbom", args->sbom, "Shorthand for --attest=type=sbom (true, false)");
  b->add_option("--allow", args->allow,
                "Allow an entitlement the build needs: network.host (RUN --network=host), "
                "security.insecure (RUN --security=insecure); the engine must allow it too");
  b->callback([args, global, status] { *status = RunBuild(*args, *global); });
}

}  // namespace hoist::cmd
