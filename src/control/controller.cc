#include "control/controller.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "archive/confined_root.h"
#include "base/background_queue.h"
#include "base/file_system.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "base/pattern_matcher.h"
#include "control/cache_transfer.h"
#include "control/dockerfile_source.h"
#include "control/exporters.h"
#include "control/frontend_attrs.h"
#include "control/image_resolver.h"
#include "control/provenance.h"
#include "control/session_credentials.h"
#include "exporter/sbom.h"
#include "frontend/dockerfile/named_context.h"
#include "llb/definition.h"
#include "llb/marshal.h"
#include "oci/digest.h"
#include "oci/reference.h"
#include "solver/ops/worker.h"
#include "solver/scheduler.h"
#include "source/oci_layout_source.h"

namespace hoist::control {
namespace {

// Passes progress on and remembers the first vertex that failed.
class FailureTracker final : public progress::ProgressWriter {
 public:
  explicit FailureTracker(progress::ProgressWriter* next) : next_(next) {}
  void Write(progress::SolveStatus status) override {
    {
      std::lock_guard lock(mu_);
      for (const auto& v : status.vertexes) {
        if (!v.error.empty() && failed_.empty()) failed_ = v.digest;
      }
    }
    if (next_ != nullptr) next_->Write(std::move(status));
  }
  std::string failed() const {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  progress::ProgressWriter* next_;
  mutable std::mutex mu_;
  std::string failed_;
};

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// BuildKit's excerpt of the Dockerfile lines a failed step came from.
std::string DockerfileExcerpt(const std::string& name, const std::string& text,
                              const llb::Definition& def, const std::string& digest) {
  auto d = oci::Digest::Parse(digest);
  if (!d) return "";
  auto it = def.metadata.find(*d);
  if (it == def.metadata.end()) return "";
  const auto lines = frontend::dockerfile::DockerfileLines(it->second);
  if (!lines) return "";
  const auto [start, end] = *lines;
  std::vector<std::string> all;
  for (size_t from = 0; from < text.size();) {
    size_t nl = text.find('\n', from);
    if (nl == std::string::npos) nl = text.size();
    all.push_back(text.substr(from, nl - from));
    from = nl + 1;
  }
  const int first = std::max(1, start - 2);
  const int last = std::min<int>(static_cast<int>(all.size()), end + 2);
  std::string out = fmt::format("{}:{}\n--------------------\n", name,
                                start == end ? std::to_string(start)
                                             : fmt::format("{}-{}", start, end));
  for (int i = first; i <= last; ++i) {
    const bool hit = i >= start && i <= end;
    out += fmt::format("{:>4} | {}{}\n", i, hit ? ">>> " : "    ", all[i - 1]);
  }
  out += "--------------------\n";
  return out;
}

}  // namespace

Status ValidateSolveRequest(const SolveRequest& r) {
  HOIST_TRY(CheckFrontend(r.frontend, r.frontend_attrs));
  HOIST_TRY(ParseAttestRequest(r.frontend_attrs).map([](const AttestRequest&) {}));
  for (const TypedAttrs& e : r.exporters) HOIST_TRY(ValidateExporter(e));
  for (const TypedAttrs& e : r.cache_exports) {
    HOIST_TRY(ValidateCacheEntry(e, "--cache-to", "dest"));
  }
  for (const TypedAttrs& e : r.cache_imports) {
    HOIST_TRY(ValidateCacheEntry(e, "--cache-from", "src"));
  }
  return OkStatus();
}

void WriteWarning(progress::ProgressWriter* progress, std::string message) {
  if (progress == nullptr) return;
  progress->Write({.warnings = {{.short_message = std::move(message)}}});
}

EngineParts Controller::PartsFor(const std::string& session_id,
                                 std::shared_ptr<registry::Client>* registry) const {
  EngineParts parts = engine_;
  if (engine_.registry != nullptr) {
    // Registry credentials are the client's, asked through its session; the engine's own are
    // never lent to a build. This client shares connections and the token cache (keyed by
    // credential identity) with every other build's.
    *registry = engine_.registry->WithCredentials(std::make_shared<SessionCredentials>(
        engine_.sessions, std::vector<std::string>{session_id}));
    parts.registry = registry->get();
  }
  return parts;
}

Result<SolveResponse> Controller::Solve(const SolveRequest& request,
                                        progress::ProgressWriter* progress,
                                        const std::shared_ptr<CancelContext>& cancel,
                                        SolveFailure* failure) {
  HOIST_TRY(ValidateSolveRequest(request));
  HOIST_ASSIGN_OR_RETURN(solver::EntitlementSet entitlements, GrantEntitlements(request));
  if (auto note = CheckFrontend(request.frontend, request.frontend_attrs); note && *note) {
    WriteWarning(progress, **note);
  }
  auto no_prune = HoldOffPrune();
  HOIST_ASSIGN_OR_RETURN(std::shared_ptr<BuildResult> built,
                         Build(request.frontend_attrs, request.frontend_inputs, request.session_id,
                               request.cache_imports, entitlements, progress, cancel, failure));
  return Export(request, *built, progress, cancel);
}

Result<std::shared_ptr<BuildResult>> Controller::Build(
    const Attrs& frontend_attrs, const std::map<std::string, llb::Definition>& frontend_inputs,
    const std::string& session_id, const std::vector<TypedAttrs>& cache_imports,
    const solver::EntitlementSet& entitlements, progress::ProgressWriter* progress,
    const std::shared_ptr<CancelContext>& cancel, SolveFailure* failure) {
  const int64_t started_ns = NowNanos();
  auto built = std::make_shared<BuildResult>();
  const EngineParts engine = PartsFor(session_id, &built->registry);
  HOIST_ASSIGN_OR_RETURN(built->settings, ParseFrontendAttrs(frontend_attrs));
  HOIST_ASSIGN_OR_RETURN(const AttestRequest attest, ParseAttestRequest(frontend_attrs));
  FrontendSettings& settings = built->settings;
  HOIST_ASSIGN_OR_RETURN(std::shared_ptr<session::Session> session,
                         engine.sessions->Get(session_id, session::kDefaultSessionTimeout,
                                              cancel.get()));
  // A git repository as the context (buildx's `build https://host/repo.git#ref:subdir`): the
  // repository is the context, and the Dockerfile is read from it, as BuildKit does.
  std::optional<llb::State> git_context;
  if (auto it = frontend_attrs.find("context"); it != frontend_attrs.end()) {
    HOIST_ASSIGN_OR_RETURN(git_context, frontend::dockerfile::GitBuildContext(it->second));
    if (!git_context) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("context {}: a remote build context must be a git repository "
                                   "URL (an HTTP tarball context is not supported)",
                                   it->second));
    }
  }
  HOIST_TRY(PosixFileSystem()->MakeDirs(engine.root + "/ops", 0700));
  auto make_worker = [&](const std::optional<oci::Platform>& p) {
    return std::make_unique<solver::ops::Worker>(solver::ops::WorkerOptions{
        .snapshotter = engine.snapshotter,
        .layers = engine.layers,
        .content = engine.content,
        .executor = engine.executor,
        .sessions = engine.sessions,
        .session_ids = {session_id},
        .state_dir = engine.root + "/ops",
        .default_platform = p.value_or(oci::HostPlatform()),
        .registry = engine.registry,
        .image_names = engine.image_names,
        .checksums = engine.checksums,
        .diff_cache_dir = engine.diff_cache_dir(),
        .cleanup = engine.cleanup});
  };
  FailureTracker tracker(progress);
  // Solves `def` (a git context, a frontend input) and calls fn with a view of its result.
  const SolveAndView with_solved =
      [&](const llb::Definition& def,
          const std::function<Status(const std::string& dir)>& fn) -> Status {
    auto worker = make_worker(std::nullopt);
    solver::Solver solver(worker.get(), worker.get(), engine.cache);
    HOIST_ASSIGN_OR_RETURN(solver::SolveResult solved, solver.Solve(def,
                                                                    {.no_cache = settings.no_cache,
                                                                     .progress = &tracker,
                                                                     .entitlements = entitlements},
                                                                    cancel));
    std::string result;
    if (solved.ref.empty()) {
      HOIST_ASSIGN_OR_RETURN(auto empty, worker->EmptyRef());
      result = empty.id();
    } else {
      result = solved.ref.id();
    }
    return WithSnapshotView(*worker, result, fn);
  };
  // Frontend inputs: the Dockerfile's, the build context (used as it is, as BuildKit does:
  // no .dockerignore applies), and states for `context:NAME=input:KEY` (buildx sends a bake
  // target's result this way for a `target:` context).
  const llb::Definition* dockerfile_input = nullptr;
  std::optional<llb::State> input_context;
  std::map<std::string, llb::State> input_states;
  for (const auto& [name, def] : frontend_inputs) {
    if (name == "dockerfile") {
      dockerfile_input = &def;
      continue;
    }
    auto st = llb::FromDefinition(def);
    if (!st) return Unexpected(std::move(st).error().Wrap("frontend input " + name));
    if (name == "context") {
      input_context = std::move(*st);
    } else {
      input_states.emplace(name, std::move(*st));
    }
  }
  // Provenance names the Dockerfile's local directory as a source when the frontend read it
  // there, or when the client says it read the input's files from there.
  bool dockerfile_local = !git_context;
  DockerfileFiles inputs;
  if (dockerfile_input != nullptr) {
    dockerfile_local = InputReadFromLocal(*dockerfile_input);
    HOIST_LOG(kDebug, "session {}: the Dockerfile comes with the request (frontend input)",
              session_id);
    HOIST_ASSIGN_OR_RETURN(inputs, ReadInputDockerfile(*dockerfile_input, *session, settings,
                                                       !git_context, with_solved));
  } else if (git_context) {
    HOIST_ASSIGN_OR_RETURN(llb::Definition def, llb::Marshal(*git_context));
    HOIST_TRY(with_solved(def, [&](const std::string& dir) -> Status {
      auto text = archive::ReadFileInTree(dir, settings.filename, 16 << 20);
      if (!text) {
        return MakeError(text.error().code(),
                         fmt::format("failed to read dockerfile: {}", text.error().message()));
      }
      inputs.dockerfile = std::move(*text);
      return OkStatus();
    }));
  } else {
    // The frontend resolves each OCI layout context as soon as it has read the Dockerfile:
    // meanwhile, each one's manifest and config are read already, and a client's store keeps
    // them for the frontend's reads (over hoistd, calls on the session that would otherwise
    // follow the Dockerfile's).
    std::vector<std::jthread> read_ahead;
    for (const auto& [key, value] : frontend_attrs) {
      if (!key.starts_with("context:") || !value.starts_with("oci-layout://")) continue;
      auto ref = oci::ParseReference(std::string_view(value).substr(13));
      if (!ref || !ref->has_name() || !ref->has_digest()) continue;
      const std::optional<oci::Platform> platform =
          settings.platforms.empty() ? std::nullopt : settings.platforms.front();
      read_ahead.emplace_back([&engine, session_id, store = ref->Name(),
                               pinned = "read-ahead@" + ref->digest()->str(), platform] {
        source::SessionStores stores(engine.sessions, {session_id});
        (void)source::ResolveOciLayoutConfig(pinned, session_id, store, platform, stores);
      });
    }
    HOIST_ASSIGN_OR_RETURN(inputs, ReadSessionDockerfile(*session, settings));
  }
  HOIST_ASSIGN_OR_RETURN(std::optional<std::string> syntax_note,
                         CheckSyntaxDirective(inputs.dockerfile));
  if (syntax_note) WriteWarning(progress, *syntax_note);
  for (std::string& w : settings.warnings) WriteWarning(progress, std::move(w));
  ImportCaches(engine, *session, cache_imports, progress, cancel.get());

  EngineImageResolver resolver(engine.sessions, {session_id}, &tracker,
                               {.client = engine.registry,
                                .content = engine.content,
                                .names = engine.image_names});
  frontend::dockerfile::ConvertOptions co = settings.convert;
  co.resolver = &resolver;
  co.session_id = session_id;
  co.dockerignore = inputs.dockerignore;
  co.context_state = input_context ? input_context : git_context;
  co.inputs = std::move(input_states);

  for (const std::optional<oci::Platform>& p : settings.platforms) {
    if (p) co.target_platforms = {*p};
    HOIST_ASSIGN_OR_RETURN(auto converted, frontend::dockerfile::ConvertToLLB(inputs.dockerfile, co));
    for (const auto& w : converted.warnings) WriteWarning(progress, w.short_message);
    auto worker = make_worker(p);
    solver::Solver solver(worker.get(), worker.get(), engine.cache);
    auto solved = solver.Solve(converted.definition,
                               {.no_cache = settings.no_cache,
                                .progress = &tracker,
                                .entitlements = entitlements},
                               cancel);
    if (!solved) {
      if (failure != nullptr && solved.error().code() != Code::kCancelled) {
        failure->excerpt = DockerfileExcerpt(settings.filename, inputs.dockerfile,
                                             converted.definition, tracker.failed());
      }
      return Unexpected(std::move(solved).error());
    }
    std::string result;
    if (solved->ref.empty()) {
      HOIST_ASSIGN_OR_RETURN(auto empty, worker->EmptyRef());
      result = empty.id();
    } else {
      result = solved->ref.id();
    }
    built->results.push_back({.platform = p, .snapshot = result,
                              .converted = std::move(converted), .worker = std::move(worker),
                              .vertices = std::move(solved->vertices),
                              .cache_key = solved->cache_key});
  }
  if (attest.provenance) {
    const std::string invocation_id = session::NewRandomId();
    for (PlatformResult& r : built->results) {
      ProvenanceInput in{.frontend_attrs = frontend_attrs,
                         .definition = &r.converted.definition,
                         .vertices = &r.vertices,
                         .dockerfile_name = settings.filename,
                         .dockerfile = inputs.dockerfile,
                         .dockerfile_local = dockerfile_local,
                         .started_ns = started_ns,
                         .finished_ns = NowNanos(),
                         .invocation_id = invocation_id,
                         .epoch = settings.epoch};
      ProvenanceSteps steps;
      HOIST_ASSIGN_OR_RETURN(std::string predicate,
                             ProvenancePredicate(*attest.provenance, in, &steps));
      if (attest.provenance->max) r.provenance_steps = std::move(steps);
      r.attestations.push_back({.predicate_type = std::string(exporter::kPredicateSLSAProvenance),
                                .predicate = std::move(predicate),
                                .path = attest.provenance->filename,
                                .inline_only = attest.provenance->inline_only});
    }
  }
  if (attest.sbom) {
    if (!attest.sbom->generator.empty()) {
      WriteWarning(progress, fmt::format("sbom generator {} is not run: the SBOM comes from "
                                         "hoist's own scanner",
                                         attest.sbom->generator));
    }
    for (PlatformResult& r : built->results) {
      const std::string step =
          r.platform ? "[" + oci::FormatPlatform(*r.platform) + "] generating sbom"
                     : std::string("generating sbom");
      HOIST_TRY(progress::RunStep(progress, step, [&]() -> Status {
        return WithSnapshotView(*r.worker, r.snapshot, [&](const std::string& dir) -> Status {
          HOIST_ASSIGN_OR_RETURN(std::vector<exporter::SbomPackage> packages,
                                 exporter::ScanPackages(dir));
          const int64_t created = settings.epoch.value_or(NowNanos() / 1000000000);
          r.attestations.push_back(
              {.predicate_type = std::string(exporter::kPredicateSPDX),
               .predicate = exporter::SpdxDocument(packages, {.name = "image", .created = created}),
               .path = "sbom.spdx.json"});
          return OkStatus();
        });
      }));
    }
  }
  return built;
}

Result<SolveResponse> Controller::Export(const SolveRequest& request, const BuildResult& built,
                                         progress::ProgressWriter* progress,
                                         const std::shared_ptr<CancelContext>& cancel) {
  SolveResponse response;
  if (built.results.empty()) {
    // A gateway build that returned no result.
    if (request.exporters.empty() && request.cache_exports.empty()) return response;
    return MakeError(Code::kInvalidArgument,
                     "the build returned no result, so there is nothing to export");
  }
  std::shared_ptr<registry::Client> registry;
  const EngineParts engine = PartsFor(request.session_id, &registry);
  HOIST_ASSIGN_OR_RETURN(std::shared_ptr<session::Session> session,
                         engine_.sessions->Get(request.session_id,
                                               session::kDefaultSessionTimeout, cancel.get()));
  if (!request.exporters.empty()) {
    HOIST_TRY(progress::RunStep(progress, "exporting", [&]() -> Status {
      for (const TypedAttrs& e : request.exporters) {
        HOIST_ASSIGN_OR_RETURN(ExportResult exported,
                               control::Export(engine, built.results, e, built.settings.epoch,
                                               *session, progress, cancel.get()));
        AddExporterResponse(exported, &response.exporter_response);
      }
      return OkStatus();
    }));
  }
  HOIST_TRY(ExportCaches(engine, *session, built.results, request.cache_exports, progress,
                         &response.exporter_response, cancel.get()));
  return response;
}

Result<solver::EntitlementSet> Controller::GrantEntitlements(const SolveRequest& request) const {
  return solver::GrantEntitlements(request.entitlements, engine_.allowed_entitlements);
}

Result<std::vector<solver::CacheRecord>> Controller::DiskUsage() {
  return control::DiskUsage(engine_);
}

Result<PruneResult> Controller::Prune(const PruneRequest& request) {
  std::unique_lock no_builds(prune_mu_);
  // Views that finished builds still hold go first: what they hold is not in use.
  if (engine_.cleanup != nullptr) engine_.cleanup->Drain();
  return PruneCache(engine_, request);
}

}  // namespace hoist::control
