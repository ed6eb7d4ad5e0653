#include "control/exporters.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "archive/diff.h"
#include "base/background_queue.h"
#include "base/base64.h"
#include "base/mount.h"
#include "base/temp_dir.h"
#include "archive/tar_writer.h"
#include "control/attrs.h"
#include "control/provenance.h"
#include "exporter/image_archive.h"
#include "exporter/snapshot_image.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "oci/purl.h"
#include "registry/image_transfer.h"
#include "session/session.h"

namespace hoist::control {
namespace {

// Mounts the committed snapshot in a directory of its own for `fn`: read-only, or `writable`
// (a layer over it, thrown away after).
Status WithResultTree(solver::ops::Worker& worker, const std::string& snapshot_name,
                      bool writable, const std::function<Status(const std::string& dir)>& fn) {
  snapshot::Snapshotter& s = *worker.options().snapshotter;
  const std::string key = "export-view-" + session::NewRandomId();
  HOIST_ASSIGN_OR_RETURN(auto mounts,
                         writable ? s.Prepare(key, snapshot_name) : s.View(key, snapshot_name));
  auto dir = TempDir::Create("export-", worker.options().state_dir);
  Status st = dir ? Status{} : Status(Unexpected(dir.error()));
  std::optional<ScopedMount> mounted;
  if (st) {
    auto m = MountAll(mounts, dir->path());
    if (!m) {
      st = Unexpected(m.error());
    } else {
      mounted = std::move(*m);
      st = fn(dir->path());
    }
  }
  // The tree's mount, its directory and its view go; on hoistd after the build has answered
  // (nothing of them is part of the result).
  auto release = [&s, key, mounted = std::make_shared<std::optional<ScopedMount>>(std::move(mounted)),
                  dir = std::make_shared<Result<TempDir>>(std::move(dir))]() mutable {
    if (*mounted) (void)(*mounted)->Unmount();
    dir.reset();
    (void)s.Remove(key);
  };
  if (BackgroundQueue* later = worker.options().cleanup; later != nullptr) {
    later->Post(std::move(release));
  } else {
    release();
  }
  return st;
}

// The attestations a file output (local, tar) writes: those not inline-only.
std::vector<exporter::Attestation> FileAttestations(const PlatformResult& r) {
  std::vector<exporter::Attestation> out;
  for (const exporter::Attestation& a : r.attestations) {
    if (!a.inline_only) out.push_back(a);
  }
  return out;
}

// Every regular file under `dir` (never following a symlink) as a subject: its path from the
// tree's root and its sha256, in path order.
Result<std::vector<exporter::InTotoSubject>> FileSubjects(const std::string& dir) {
  std::vector<exporter::InTotoSubject> out;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    const std::string name = std::filesystem::relative(it->path(), dir).string();
    const std::string what = "attestation subjects: read " + name;
    UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Unexpected(ErrnoError(errno, what));
    oci::Digester digester;
    char buf[1 << 16];
    for (;;) {
      const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Unexpected(ErrnoError(errno, what));
      if (n == 0) break;
      digester.Update(buf, static_cast<size_t>(n));
    }
    out.push_back({name, digester.Finish()});
  }
  if (ec) return Unexpected(ErrnoError(ec.value(), "attestation subjects: walk the output"));
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

// Writes each attestation as a file at the top of `dir`, named by its path (mode 0600, time
// SOURCE_DATE_EPOCH or now), as BuildKit's local exporter does.
Status AddAttestationFiles(const std::string& dir, const std::vector<exporter::Attestation>& atts,
                           std::optional<int64_t> epoch) {
  HOIST_ASSIGN_OR_RETURN(std::vector<exporter::InTotoSubject> subjects, FileSubjects(dir));
  std::set<std::string> names;
  for (const exporter::Attestation& a : atts) {
    if (!names.insert(a.path).second) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("duplicate attestation path name {}", a.path));
    }
    HOIST_ASSIGN_OR_RETURN(std::string statement, exporter::InTotoStatement(a, subjects));
    const std::string pretty = nlohmann::ordered_json::parse(statement).dump(
        2, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    const std::string path = dir + "/" + a.path;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd ||
        ::write(fd.get(), pretty.data(), pretty.size()) != static_cast<ssize_t>(pretty.size())) {
      return Unexpected(ErrnoError(errno, "write attestation " + a.path));
    }
    const int64_t t = epoch.value_or(static_cast<int64_t>(::time(nullptr)));
    const struct timespec times[2] = {{t, 0}, {t, 0}};
    ::futimens(fd.get(), times);
  }
  return OkStatus();
}

// The tree of one result, with its attestation files when it has any, for `fn`.
Status WithOutputTree(const PlatformResult& r, std::optional<int64_t> epoch,
                      const std::function<Status(const std::string& dir)>& fn) {
  const std::vector<exporter::Attestation> atts = FileAttestations(r);
  return WithResultTree(*r.worker, r.snapshot, !atts.empty(),
                        [&](const std::string& dir) -> Status {
                          if (!atts.empty()) HOIST_TRY(AddAttestationFiles(dir, atts, epoch));
                          return fn(dir);
                        });
}

// Writes the tree of `r` as a tar to `out`.
Status WriteTreeTar(const PlatformResult& r, std::optional<int64_t> epoch,
                    archive::ByteSink* out) {
  return WithOutputTree(r, epoch, [&](const std::string& dir) -> Status {
    HOIST_ASSIGN_OR_RETURN(auto empty,
                           TempDir::Create("export-empty-", r.worker->options().state_dir));
    archive::TarWriter tar(out);
    HOIST_TRY(archive::WriteTreeDiff(empty.path(), dir, &tar));
    return tar.Close();
  });
}

// An OutputFile as the archive writers' sink.
class OutputFileSink final : public archive::ByteSink {
 public:
  explicit OutputFileSink(session::OutputFile* f) : f_(f) {}
  Status Write(std::string_view data) override { return f_->Write(data); }

 private:
  session::OutputFile* f_;
};

// Streams what `write` produces into the client's output file, which appears only when
// everything was written.
Status ToOutputFile(session::Session& session, const std::string& type,
                    const std::function<Status(archive::ByteSink*)>& write) {
  auto file = session.OpenOutputTar({});
  if (!file) {
    return Unexpected(std::move(file).error().Wrap(fmt::format("output type={}", type)));
  }
  OutputFileSink sink(file->get());
  HOIST_TRY(write(&sink));
  return (*file)->Commit();
}

Result<std::vector<content::LayoutName>> LayoutNames(const TypedAttrs& spec) {
  std::vector<content::LayoutName> names;
  for (const std::string& r : ListAttr(spec.attrs, "name")) {
    HOIST_ASSIGN_OR_RETURN(content::LayoutName n, content::LayoutName::Parse(r));
    names.push_back(std::move(n));
  }
  return names;
}

Result<archive::CompressorOptions> CompressionOf(const TypedAttrs& spec) {
  archive::CompressorOptions c;
  if (auto it = spec.attrs.find("compression"); it != spec.attrs.end()) {
    if (it->second == "gzip") c.compression = archive::Compression::kGzip;
    else if (it->second == "zstd") c.compression = archive::Compression::kZstd;
    else if (it->second == "uncompressed") c.compression = archive::Compression::kNone;
    else {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("unsupported compression type {}", it->second));
    }
  }
  if (auto it = spec.attrs.find("compression-level"); it != spec.attrs.end()) {
    char* end = nullptr;
    long v = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end != '\0') {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("invalid compression-level \"{}\"", it->second));
    }
    c.level = static_cast<int>(v);
  }
  return c;
}

// `linux_arm64_v8`, the directory BuildKit's local exporter gives each platform.
std::string PlatformDir(const oci::Platform& p) {
  std::string d = p.os + "_" + p.architecture;
  if (!p.variant.empty()) d += "_" + p.variant;
  return d;
}

// Max provenance's layers: for each step whose result is part of the exported image, the
// image's layers up to that result. Steps the solve has no result for (below a cache hit) are
// found by walking down the result's snapshot chain along the steps' bases, as long as that
// agrees with what the solve knows.
Result<std::string> WithProvenanceLayers(const EngineParts& engine, const PlatformResult& r,
                                         const exporter::SnapshotImage& image,
                                         const std::string& predicate) {
  if (!r.provenance_steps) return predicate;
  const ProvenanceSteps& steps = *r.provenance_steps;
  std::map<std::string, std::string> results = steps.results;
  std::string step = steps.head, snapshot = r.snapshot;
  for (size_t n = 0; !step.empty() && !snapshot.empty() && n < 100000; ++n) {
    auto [it, added] = results.try_emplace(step, snapshot);
    if (!added && it->second != snapshot) break;  // not one layer per step here
    auto base = steps.base.find(step);
    if (base == steps.base.end()) break;
    HOIST_ASSIGN_OR_RETURN(snapshot::Info info, engine.snapshotter->Stat(snapshot));
    snapshot = info.parent;
    step = base->second;
  }
  HOIST_ASSIGN_OR_RETURN(auto counts, exporter::SnapshotLayerCounts(*engine.snapshotter, r.snapshot));
  HOIST_ASSIGN_OR_RETURN(std::string bytes, content::ReadBlob(*engine.content, image.manifest));
  HOIST_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(bytes));
  std::map<std::string, std::vector<oci::Descriptor>> layers;
  for (const auto& [s, result] : results) {
    auto it = counts.find(result);
    if (it == counts.end() || it->second == 0 || it->second > manifest.layers.size()) continue;
    layers[s].assign(manifest.layers.begin(), manifest.layers.begin() + it->second);
  }
  return AddProvenanceLayers(predicate, layers);
}

// The attestation manifest for one platform's image: the statements name the image by the
// output's names (as package URLs with the platform) and its manifest digest; an output without
// names gives the subject `_`.
Result<oci::Descriptor> AttestationManifest(const EngineParts& engine, const TypedAttrs& spec,
                                            const PlatformResult& r,
                                            const exporter::SnapshotImage& image) {
  const std::vector<exporter::Attestation>& atts = r.attestations;
  const oci::Platform platform{.os = image.image_config.os,
                               .architecture = image.image_config.architecture,
                               .variant = image.image_config.variant};
  std::vector<exporter::InTotoSubject> subjects;
  for (const std::string& name : ListAttr(spec.attrs, "name")) {
    auto ref = oci::ParseNormalizedNamed(name);
    if (!ref) continue;  // a layout's bare tag names no image
    subjects.push_back({oci::ImagePURL(*ref, platform).String(), image.manifest.digest});
  }
  if (subjects.empty()) subjects.push_back({"_", image.manifest.digest});
  std::vector<exporter::Statement> statements;
  for (exporter::Attestation a : atts) {
    if (a.predicate_type == exporter::kPredicateSLSAProvenance) {
      HOIST_ASSIGN_OR_RETURN(a.predicate, WithProvenanceLayers(engine, r, image, a.predicate));
    }
    HOIST_ASSIGN_OR_RETURN(std::string json, exporter::InTotoStatement(a, subjects));
    statements.push_back({a.predicate_type, std::move(json)});
  }
  return exporter::WriteAttestationManifest(*engine.content, image.manifest, statements);
}

// The image for every platform, and an index over them when there are several or the images
// have attestations. `stores_images`: the image and registry exporters, which attach
// inline-only attestations too.
Result<ExportResult> WriteImages(const EngineParts& engine,
                                 const std::vector<PlatformResult>& results,
                                 const TypedAttrs& spec, std::optional<int64_t> epoch,
                                 bool stores_images) {
  exporter::SnapshotImageOptions io;
  HOIST_ASSIGN_OR_RETURN(io.layer.compression, CompressionOf(spec));
  io.epoch = epoch;
  HOIST_ASSIGN_OR_RETURN(io.rewrite_timestamps, BoolAttr(spec.attrs, "rewrite-timestamp", false));
  io.diff_cache_dir = engine.diff_cache_dir();
  // As BuildKit: the docker exporter writes Docker media types unless told otherwise.
  HOIST_ASSIGN_OR_RETURN(io.oci_media_types,
                         BoolAttr(spec.attrs, "oci-mediatypes", spec.type != "docker"));
  HOIST_ASSIGN_OR_RETURN(io.force_compression, BoolAttr(spec.attrs, "force-compression", false));
  // Docker has no zstd layer type: zstd implies OCI media types, as in BuildKit.
  if (io.layer.compression.compression == archive::Compression::kZstd) io.oci_media_types = true;
  // As BuildKit: an image with attestations is an index, even for one platform, and
  // attestations need OCI media types. Inline-only ones (buildx's default provenance) alone
  // make no index where images are not stored.
  bool attest = results.size() > 1 &&
                std::any_of(results.begin(), results.end(),
                            [](const PlatformResult& r) { return !r.attestations.empty(); });
  for (const PlatformResult& r : results) {
    for (const exporter::Attestation& a : r.attestations) {
      if (stores_images || !a.inline_only) attest = true;
    }
  }
  if (attest) io.oci_media_types = true;
  ExportResult out;
  std::vector<oci::Descriptor> manifests;
  std::vector<oci::Descriptor> attestation_manifests;
  for (const PlatformResult& r : results) {
    HOIST_ASSIGN_OR_RETURN(exporter::SnapshotImage image,
                           exporter::WriteSnapshotImage(*engine.snapshotter, *engine.content,
                                                        r.snapshot, r.converted.image, io));
    manifests.push_back(image.manifest);
    out.config = image.config;
    if (attest && !r.attestations.empty()) {
      HOIST_ASSIGN_OR_RETURN(oci::Descriptor m, AttestationManifest(engine, spec, r, image));
      attestation_manifests.push_back(std::move(m));
    }
  }
  if (manifests.size() == 1 && attestation_manifests.empty()) {
    out.root = manifests[0];
    return out;
  }
  oci::Index index;
  const std::string index_type(io.oci_media_types ? oci::kMediaTypeImageIndex
                                                  : oci::kMediaTypeDockerManifestList);
  index.media_type = index_type;
  index.manifests = manifests;
  index.manifests.insert(index.manifests.end(), attestation_manifests.begin(),
                         attestation_manifests.end());
  const std::string json = oci::SerializeIndex(index);
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo info, content::WriteBlob(*engine.content, json));
  out.root = oci::Descriptor{.media_type = index_type, .digest = info.digest, .size = info.size};
  if (results.size() > 1) out.config.reset();
  return out;
}

// The references an image output names (`name=a,b`), tagged `latest` when untagged.
Result<std::vector<oci::Reference>> ImageRefs(const TypedAttrs& spec) {
  std::vector<oci::Reference> refs;
  for (const std::string& raw : ListAttr(spec.attrs, "name")) {
    auto parsed = oci::ParseNormalizedNamed(raw);
    if (!parsed) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("output type={}: invalid image name \"{}\": {}", spec.type, raw,
                                   parsed.error().message()));
    }
    refs.push_back(oci::TagNameOnly(*parsed));
  }
  return refs;
}

Result<bool> PushWanted(const TypedAttrs& spec) {
  return BoolAttr(spec.attrs, "push", spec.type == "registry");
}

// BuildKit's local exporter: the tree goes to the client's directory; with several platforms,
// each in a directory of its own (`linux_amd64/`).
Status ExportLocal(const std::vector<PlatformResult>& results, std::optional<int64_t> epoch,
                   session::Session& session, CancelContext* cancel) {
  if (results.size() == 1) {
    return WithOutputTree(results[0], epoch, [&](const std::string& dir) {
      return session.SendOutputDir(dir, cancel);
    });
  }
  HOIST_ASSIGN_OR_RETURN(auto staging,
                         TempDir::Create("export-platforms-", results[0].worker->options().state_dir));
  std::vector<ScopedMount> mounted;
  std::vector<std::string> views;
  Status st;
  for (const PlatformResult& r : results) {
    snapshot::Snapshotter& s = *r.worker->options().snapshotter;
    const std::string key = "export-view-" + session::NewRandomId();
    const std::string where = staging.path() + "/" + PlatformDir(*r.platform);
    const std::vector<exporter::Attestation> atts = FileAttestations(r);
    auto mounts = atts.empty() ? s.View(key, r.snapshot) : s.Prepare(key, r.snapshot);
    if (!mounts) {
      st = Unexpected(mounts.error());
      break;
    }
    views.push_back(key);
    if (::mkdir(where.c_str(), 0755) != 0) {
      st = Unexpected(ErrnoError(errno, "create " + PlatformDir(*r.platform)));
      break;
    }
    auto m = MountAll(*mounts, where);
    if (!m) {
      st = Unexpected(m.error());
      break;
    }
    mounted.push_back(std::move(*m));
    if (!atts.empty()) {
      st = AddAttestationFiles(where, atts, epoch);
      if (!st) break;
    }
  }
  if (st) st = session.SendOutputDir(staging.path(), cancel);
  for (auto& m : mounted) (void)m.Unmount();
  for (size_t i = 0; i < views.size(); ++i) {
    (void)results[0].worker->options().snapshotter->Remove(views[i]);
  }
  return st;
}

Result<ExportResult> ExportArchive(const EngineParts& engine,
                                   const std::vector<PlatformResult>& results,
                                   const TypedAttrs& spec, std::optional<int64_t> epoch,
                                   session::Session& session) {
  HOIST_ASSIGN_OR_RETURN(bool tar, BoolAttr(spec.attrs, "tar", true));
  if (!tar && spec.type == "docker") {
    return MakeError(Code::kInvalidArgument, "output type=docker does not support tar=false");
  }
  if (results.size() > 1 && spec.type == "docker") {
    return MakeError(Code::kInvalidArgument,
                     "docker exporter does not support exporting manifest lists, use the oci "
                     "exporter");
  }
  HOIST_ASSIGN_OR_RETURN(ExportResult images, WriteImages(engine, results, spec, epoch, false));
  HOIST_ASSIGN_OR_RETURN(images.names, LayoutNames(spec));
  if (!tar) {
    // BuildKit's `export` store: the blobs go into the client's layout, which the client then
    // names in its index.json from the response.
    auto store = session.OutputStore();
    if (!store) return Unexpected(std::move(store).error().Wrap("output type=oci,tar=false"));
    HOIST_TRY(content::CopyImage(*engine.content, **store, *images.root).map([](int64_t) {}));
    return images;
  }
  exporter::ArchiveOptions ao{.format = spec.type == "docker" ? exporter::ArchiveFormat::kDocker
                                                              : exporter::ArchiveFormat::kOci,
                              .names = images.names};
  HOIST_TRY(ToOutputFile(session, spec.type, [&](archive::ByteSink* sink) {
    return exporter::WriteImageArchive(*engine.content, *images.root, ao, sink);
  }));
  return images;
}

// As BuildKit's image exporter: the image goes into the engine (its names remembered, so
// `FROM name` with image-resolve-mode=local finds it) and, with push, to a registry.
Result<ExportResult> ExportImage(const EngineParts& engine,
                                 const std::vector<PlatformResult>& results,
                                 const TypedAttrs& spec, std::optional<int64_t> epoch,
                                 progress::ProgressWriter* progress) {
  HOIST_ASSIGN_OR_RETURN(bool push, PushWanted(spec));
  HOIST_ASSIGN_OR_RETURN(bool by_digest, BoolAttr(spec.attrs, "push-by-digest", false));
  HOIST_ASSIGN_OR_RETURN(bool canonical, BoolAttr(spec.attrs, "name-canonical", false));
  HOIST_ASSIGN_OR_RETURN(std::vector<oci::Reference> refs, ImageRefs(spec));
  TypedAttrs typed = spec;
  // BuildKit v0.11's image exporter writes Docker media types unless told otherwise.
  typed.attrs.try_emplace("oci-mediatypes", "false");
  HOIST_ASSIGN_OR_RETURN(ExportResult images, WriteImages(engine, results, typed, epoch, true));
  for (const oci::Reference& r : refs) {
    HOIST_TRY(engine.image_names->Record(r, images.root->digest));
    images.image_names.push_back(r.String());
    if (canonical) {
      HOIST_ASSIGN_OR_RETURN(oci::Reference c,
                             oci::WithDigest(oci::TrimNamed(r), images.root->digest));
      images.image_names.push_back(c.String());
    }
  }
  if (push) {
    std::string step = "pushing";
    for (const auto& r : refs) step += " " + r.String();
    HOIST_TRY(progress::RunStep(progress, step, [&] {
      return PushToRegistry(engine, progress, step, *images.root, refs, by_digest);
    }));
  }
  return images;
}

}  // namespace

Status WithSnapshotView(solver::ops::Worker& worker, const std::string& snapshot_name,
                        const std::function<Status(const std::string& dir)>& fn) {
  return WithResultTree(worker, snapshot_name, false, fn);
}

Status ValidateExporter(const TypedAttrs& spec) {
  if (spec.type == "local" || spec.type == "tar" || spec.type == "oci" || spec.type == "docker") {
    return OkStatus();
  }
  if (spec.type != "image" && spec.type != "registry") {
    return MakeError(Code::kInvalidArgument, fmt::format("unknown output type {}", spec.type));
  }
  // A push without a name is refused before anything is built, as buildx does.
  HOIST_ASSIGN_OR_RETURN(bool push, PushWanted(spec));
  HOIST_ASSIGN_OR_RETURN(std::vector<oci::Reference> refs, ImageRefs(spec));
  if (push && refs.empty()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("output type={}{} needs an image name: add -t NAME or name=NAME",
                                 spec.type, spec.type == "image" ? ",push=true" : ""));
  }
  return OkStatus();
}

Result<ExportResult> Export(const EngineParts& engine, const std::vector<PlatformResult>& results,
                            const TypedAttrs& spec, std::optional<int64_t> epoch,
                            session::Session& session, progress::ProgressWriter* progress,
                            CancelContext* cancel) {
  HOIST_TRY(ValidateExporter(spec));
  if (spec.type == "local") {
    HOIST_TRY(ExportLocal(results, epoch, session, cancel));
    return ExportResult{};
  }
  if (spec.type == "tar") {
    if (results.size() > 1) {
      return MakeError(Code::kUnimplemented,
                       "output type=tar takes one platform; use type=local or type=oci for "
                       "several");
    }
    HOIST_TRY(ToOutputFile(session, "tar", [&](archive::ByteSink* s) {
      return WriteTreeTar(results[0], epoch, s);
    }));
    return ExportResult{};
  }
  if (spec.type == "oci" || spec.type == "docker") {
    return ExportArchive(engine, results, spec, epoch, session);
  }
  return ExportImage(engine, results, spec, epoch, progress);
}

Status PushToRegistry(const EngineParts& engine, progress::ProgressWriter* progress,
                      const std::string& step, const oci::Descriptor& root,
                      const std::vector<oci::Reference>& refs, bool by_digest) {
  if (engine.registry == nullptr) {
    return MakeError(Code::kFailedPrecondition, "pushing: no registry client in this engine");
  }
  std::mutex mu;
  std::map<oci::Digest, progress::VertexStatus> rows;
  registry::PushOptions po;
  po.by_digest = by_digest;
  po.on_blob = [&](const registry::BlobEvent& e) {
    std::lock_guard lock(mu);
    auto [it, fresh] = rows.try_emplace(e.desc.digest);
    progress::VertexStatus& row = it->second;
    if (fresh) {
      row.id = e.desc.digest.str();
      row.name = "pushing " + e.desc.digest.str();
      row.total = e.desc.size;
      row.started = progress::Clock::now();
    }
    row.current = e.done;
    if (e.finished) row.completed = progress::Clock::now();
    progress::WriteStepStatus(progress, step, row);
  };
  return registry::PushImage(*engine.registry, *engine.content, root, refs, po);
}

void AddExporterResponse(const ExportResult& r, std::map<std::string, std::string>* response) {
  if (!r.root) return;
  (*response)["containerimage.digest"] = r.root->digest.str();
  if (r.config) (*response)["containerimage.config.digest"] = r.config->digest.str();
  const nlohmann::json desc = {{"mediaType", r.root->media_type},
                               {"digest", r.root->digest.str()},
                               {"size", r.root->size}};
  (*response)["containerimage.descriptor"] = Base64Encode(desc.dump());
  std::string names;
  for (const auto& n : r.names) {
    if (!names.empty()) names += ",";
    names += n.image_name.empty() ? n.ref_name : n.image_name;
  }
  for (const auto& n : r.image_names) {
    if (!names.empty()) names += ",";
    names += n;
  }
  if (!names.empty()) (*response)["image.name"] = names;
}

}  // namespace hoist::control
