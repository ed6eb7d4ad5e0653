#include "cmd/build_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "archive/diff.h"
#include "base/atomic_file.h"
#include "base/temp_dir.h"
#include "client/build_options.h"
#include "client/output_spec.h"
#include "cmd/engine.h"
#include "cmd/progress_display.h"
#include "exporter/cache_layout.h"
#include "exporter/image_archive.h"
#include "exporter/snapshot_image.h"
#include "frontend/dockerfile/convert.h"
#include "llb/dump.h"
#include "progress/event.h"
#include "oci/index.h"
#include "oci/media_types.h"
#include "registry/image_transfer.h"
#include "source/docker_image_source.h"
#include "source/oci_layout_source.h"
#include "solver/ops/file_actions.h"
#include "solver/ops/worker.h"
#include "solver/scheduler.h"

namespace hoist::cmd {
namespace {

using frontend::dockerfile::ImageMetaResolver;
using frontend::dockerfile::ResolvedImageConfig;
using frontend::dockerfile::ResolveImageConfigOptions;
using frontend::dockerfile::ResolverType;

struct BuildArgs {
  std::string context;
  std::string file;
  std::vector<std::string> tags;
  std::vector<std::string> build_args;
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
  client::BuildFlags flags;
};

// Resolves base image configs for the frontend through the engine's sources.
class EngineResolver final : public ImageMetaResolver {
 public:
  EngineResolver(session::SessionManager* sessions, std::vector<std::string> session_ids,
                 progress::ProgressWriter* progress = nullptr,
                 source::DockerImageEnv registry = {})
      : stores_(sessions, std::move(session_ids)), progress_(progress), registry_(registry) {}

  Result<ResolvedImageConfig> ResolveImageConfig(
      std::string_view ref, const ResolveImageConfigOptions& options) override {
    if (options.resolver_type == ResolverType::kOciLayout) {
      // Shown as its own step, as BuildKit shows a metadata lookup.
      progress::Vertex v{.digest = oci::Digest::Sha256Of("load metadata " + std::string(ref)).str(),
                         .name = options.log_prefix + "load metadata for " + std::string(ref)};
      v.started = progress::Clock::now();
      if (progress_) progress_->Write({.vertexes = {v}});
      auto c = source::ResolveOciLayoutConfig(ref, options.session_id, options.store_id,
                                              options.platform, stores_);
      v.completed = progress::Clock::now();
      if (!c) v.error = c.error().message();
      if (progress_) progress_->Write({.vertexes = {v}});
      if (!c) return Unexpected(std::move(c).error());
      return ResolvedImageConfig{.ref = c->ref, .digest = c->digest, .config_json = c->config_json};
    }
    return ResolveRegistry(ref, options);
  }

 private:
  // BuildKit's `[internal] load metadata for docker.io/library/alpine:3.18` step: the image's
  // config, read through the registry (or the engine's store when the mode allows).
  Result<ResolvedImageConfig> ResolveRegistry(std::string_view ref,
                                              const ResolveImageConfigOptions& options) {
    if (registry_.client == nullptr) {
      return MakeError(Code::kFailedPrecondition,
                       fmt::format("{}: no registry client in this engine", ref));
    }
    HOIST_ASSIGN_OR_RETURN(oci::Reference parsed, oci::ParseNormalizedNamed(ref));
    source::DockerImageIdentifier id;
    id.reference = oci::TagNameOnly(parsed);
    id.platform = oci::Normalize(options.platform.value_or(oci::HostPlatform()));
    HOIST_ASSIGN_OR_RETURN(id.resolve_mode, source::ParseResolveMode(options.resolve_mode));
    const std::string name = options.log_prefix + "load metadata for " + id.reference.String();
    progress::Vertex v{.digest = oci::Digest::Sha256Of(name + FormatPlatform(id.platform)).str(),
                       .name = name};
    v.started = progress::Clock::now();
    if (progress_) progress_->Write({.vertexes = {v}});
    auto inst = source::DockerImageSourceInstance::Resolve(id, registry_);
    v.completed = progress::Clock::now();
    if (!inst) v.error = inst.error().message();
    if (progress_) progress_->Write({.vertexes = {v}});
    if (!inst) return Unexpected(std::move(inst).error());
    return ResolvedImageConfig{.ref = (*inst)->pinned().String(),
                               .digest = (*inst)->image().root.digest,
                               .config_json = (*inst)->image().config_json};
  }

  source::SessionStores stores_;
  progress::ProgressWriter* progress_;
  source::DockerImageEnv registry_;
};

Result<std::string> ReadClientFile(session::Session& s, std::string_view dir,
                                   std::string_view path, bool optional) {
  HOIST_ASSIGN_OR_RETURN(auto d, s.LocalDir(dir));
  auto file = d->OpenFile(path);
  if (!file) {
    if (optional && file.error().code() == Code::kNotFound) return std::string();
    return Unexpected(std::move(file).error());
  }
  std::string data;
  char buf[65536];
  for (uint64_t off = 0;;) {
    HOIST_ASSIGN_OR_RETURN(size_t n, (*file)->ReadAt(off, buf, sizeof(buf)));
    if (n == 0) break;
    data.append(buf, n);
    off += n;
    if (data.size() > (64u << 20)) {
      return MakeError(Code::kResourceExhausted, fmt::format("{}: larger than 64 MiB", path));
    }
  }
  return data;
}

Result<std::optional<int64_t>> SourceDateEpoch() {
  const char* v = std::getenv("SOURCE_DATE_EPOCH");
  if (v == nullptr || *v == '\0') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < 0) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid SOURCE_DATE_EPOCH \"{}\": not a number of seconds", v));
  }
  return static_cast<int64_t>(n);
}

// Writes the tree of `ref` as a tar to `out`.
Status WriteTreeTar(solver::ops::Worker& worker, const std::string& snapshot_name,
                    archive::ByteSink* out) {
  snapshot::Snapshotter& s = *worker.options().snapshotter;
  const std::string key = "export-view-" + session::NewRandomId();
  HOIST_ASSIGN_OR_RETURN(auto mounts, s.View(key, snapshot_name));
  auto cleanup = [&] { (void)s.Remove(key); };
  auto dir = TempDir::Create("export-", worker.options().state_dir);
  if (!dir) {
    cleanup();
    return Unexpected(std::move(dir).error());
  }
  auto mounted = MountAll(mounts, dir->path());
  if (!mounted) {
    cleanup();
    return Unexpected(std::move(mounted).error());
  }
  auto empty = TempDir::Create("export-empty-", worker.options().state_dir);
  Status st = empty ? Status{} : Status(Unexpected(empty.error()));
  if (st) {
    archive::TarWriter tar(out);
    st = archive::WriteTreeDiff(empty->path(), dir->path(), &tar);
    if (st) st = tar.Close();
  }
  (void)mounted->Unmount();
  cleanup();
  return st;
}

Status CopyTreeOut(solver::ops::Worker& worker, const std::string& snapshot_name,
                   const std::string& dest) {
  snapshot::Snapshotter& s = *worker.options().snapshotter;
  const std::string key = "export-view-" + session::NewRandomId();
  HOIST_ASSIGN_OR_RETURN(auto mounts, s.View(key, snapshot_name));
  auto dir = TempDir::Create("export-", worker.options().state_dir);
  Status st = dir ? Status{} : Status(Unexpected(dir.error()));
  if (st) {
    auto mounted = MountAll(mounts, dir->path());
    if (!mounted) {
      st = Unexpected(mounted.error());
    } else {
      st = PosixFileSystem()->MakeDirs(dest, 0755);
      if (st) {
        solver::ops::CopyAction copy;
        copy.src = "/";
        copy.dest = "/";
        copy.dir_copy_contents = true;
        copy.always_replace_existing_dest_paths = true;
        st = solver::ops::ApplyCopy(dir->path(), dest, copy);
      }
      (void)mounted->Unmount();
    }
  }
  (void)s.Remove(key);
  if (!st) return Unexpected(std::move(st).error().Wrap("export to " + dest));
  return OkStatus();
}

// Where a tarball goes: a file (written beside and renamed into place) or stdout.
Status WithTarDestination(const std::string& type, const std::string& dest,
                          const std::function<Status(archive::ByteSink*)>& write) {
  if (dest.empty()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("output type={} needs dest=FILE (or dest=- for stdout)", type));
  }
  if (dest == "-") {
    if (::isatty(STDOUT_FILENO)) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("dest file is required for {} exporter. refusing to write to "
                                   "console",
                                   type));
    }
    archive::FdByteSink sink(STDOUT_FILENO);
    return write(&sink);
  }
  const std::string tmp = dest + ".hoist-tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Unexpected(ErrnoError(errno, "create " + dest));
  archive::FdByteSink sink(fd.get());
  Status st = write(&sink);
  if (st && ::fsync(fd.get()) != 0) st = Unexpected(ErrnoError(errno, "write " + dest));
  fd.Reset();
  if (st && ::rename(tmp.c_str(), dest.c_str()) != 0) {
    st = Unexpected(ErrnoError(errno, "rename into " + dest));
  }
  if (!st) ::unlink(tmp.c_str());
  return st;
}

// The names an output gives its image: its `name=a,b` attribute, else the -t tags.
std::vector<std::string> RawNames(const client::OutputSpec& spec,
                                  const std::vector<std::string>& tags) {
  std::vector<std::string> raw;
  if (auto it = spec.attrs.find("name"); it != spec.attrs.end()) {
    for (size_t from = 0; from <= it->second.size();) {
      size_t comma = it->second.find(',', from);
      if (comma == std::string::npos) comma = it->second.size();
      if (comma > from) raw.push_back(it->second.substr(from, comma - from));
      from = comma + 1;
    }
  } else {
    raw = tags;
  }
  return raw;
}

Result<std::vector<content::LayoutName>> ImageNames(const client::OutputSpec& spec,
                                                    const std::vector<std::string>& tags) {
  const std::vector<std::string> raw = RawNames(spec, tags);
  std::vector<content::LayoutName> names;
  for (const std::string& r : raw) {
    HOIST_ASSIGN_OR_RETURN(content::LayoutName n, content::LayoutName::Parse(r));
    names.push_back(std::move(n));
  }
  return names;
}

Result<archive::CompressorOptions> CompressionOf(const client::OutputSpec& spec) {
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

struct ExportResult {
  std::optional<oci::Descriptor> root;    // the image (manifest or index) exported
  std::optional<oci::Descriptor> config;  // single-platform images only
  std::vector<content::LayoutName> names;
  // For image outputs: the names as references (`image.name` in the metadata file).
  std::vector<std::string> image_names;
};

// Pushes `root` to every name, showing one row per blob under the step `step`.
Status PushToRegistry(Engine& engine, ProgressDisplay* display, const std::string& step,
                      const oci::Descriptor& root, const std::vector<oci::Reference>& refs,
                      bool by_digest) {
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
    if (display != nullptr) display->StepStatus(step, row);
  };
  return registry::PushImage(engine.registry(), engine.content(), root, refs, po);
}

// One platform's build: its result and what the frontend made of it.
struct PlatformResult {
  std::optional<oci::Platform> platform;
  std::string snapshot;
  frontend::dockerfile::ConvertResult converted;
  std::unique_ptr<solver::ops::Worker> worker;
  std::vector<solver::SolvedVertex> vertices;
  std::string cache_key;  // the result's
};

// `linux_arm64_v8`, the directory BuildKit's local exporter gives each platform.
std::string PlatformDir(const oci::Platform& p) {
  std::string d = p.os + "_" + p.architecture;
  if (!p.variant.empty()) d += "_" + p.variant;
  return d;
}

// The image for every platform, and an index over them when there are several.
Result<ExportResult> WriteImages(Engine& engine, const std::vector<PlatformResult>& results,
                                 const client::OutputSpec& spec, std::optional<int64_t> epoch) {
  exporter::SnapshotImageOptions io;
  HOIST_ASSIGN_OR_RETURN(io.layer.compression, CompressionOf(spec));
  io.epoch = epoch;
  if (auto it = spec.attrs.find("rewrite-timestamp"); it != spec.attrs.end()) {
    HOIST_ASSIGN_OR_RETURN(io.rewrite_timestamps,
                           client::ParseBoolAttr("rewrite-timestamp", it->second));
  }
  io.diff_cache_dir = engine.root() + "/diffs";
  // As BuildKit: the docker exporter writes Docker media types unless told otherwise.
  io.oci_media_types = spec.type != "docker";
  if (auto it = spec.attrs.find("oci-mediatypes"); it != spec.attrs.end()) {
    HOIST_ASSIGN_OR_RETURN(io.oci_media_types, client::ParseBoolAttr("oci-mediatypes", it->second));
  }
  if (auto it = spec.attrs.find("force-compression"); it != spec.attrs.end()) {
    HOIST_ASSIGN_OR_RETURN(io.force_compression,
                           client::ParseBoolAttr("force-compression", it->second));
  }
  // Docker has no zstd layer type: zstd implies OCI media types, as in BuildKit.
  if (io.layer.compression.compression == archive::Compression::kZstd) io.oci_media_types = true;
  ExportResult out;
  std::vector<oci::Descriptor> manifests;
  for (const PlatformResult& r : results) {
    HOIST_ASSIGN_OR_RETURN(exporter::SnapshotImage image,
                           exporter::WriteSnapshotImage(engine.snapshotter(), engine.content(),
                                                        r.snapshot, r.converted.image, io));
    manifests.push_back(image.manifest);
    out.config = image.config;
  }
  if (manifests.size() == 1) {
    out.root = manifests[0];
    return out;
  }
  oci::Index index;
  const std::string index_type(io.oci_media_types ? oci::kMediaTypeImageIndex
                                                  : oci::kMediaTypeDockerManifestList);
  index.media_type = index_type;
  index.manifests = manifests;
  const std::string json = oci::SerializeIndex(index);
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo info, content::WriteBlob(engine.content(), json));
  out.root = oci::Descriptor{.media_type = index_type,
                             .digest = info.digest,
                             .size = info.size};
  out.config.reset();
  return out;
}

Status Export(Engine& engine, const std::vector<PlatformResult>& results, const BuildArgs& args,
              const std::vector<client::OutputSpec>& outputs, std::optional<int64_t> epoch,
              ProgressDisplay* display, ExportResult* out) {
  const bool multi = results.size() > 1;
  for (const client::OutputSpec& spec : outputs) {
    const std::string dest = spec.attrs.contains("dest") ? spec.attrs.at("dest") : "";
    if (spec.type == "local") {
      if (dest.empty()) return MakeError(Code::kInvalidArgument, "output type=local needs dest=DIR");
      for (const PlatformResult& r : results) {
        const std::string where = multi ? dest + "/" + PlatformDir(*r.platform) : dest;
        HOIST_TRY(CopyTreeOut(*r.worker, r.snapshot, where));
      }
      continue;
    }
    if (spec.type == "tar") {
      if (multi) {
        return MakeError(Code::kUnimplemented,
                         "output type=tar takes one platform; use type=local or type=oci for "
                         "several");
      }
      HOIST_TRY(WithTarDestination("tar", dest, [&](archive::ByteSink* sink) {
        return WriteTreeTar(*results[0].worker, results[0].snapshot, sink);
      }));
      continue;
    }
    if (spec.type == "oci" || spec.type == "docker") {
      bool tar = true;
      if (auto it = spec.attrs.find("tar"); it != spec.attrs.end()) {
        HOIST_ASSIGN_OR_RETURN(tar, client::ParseBoolAttr("tar", it->second));
      }
      if (!tar && spec.type == "docker") {
        return MakeError(Code::kInvalidArgument, "output type=docker does not support tar=false");
      }
      if (!tar && dest.empty()) {
        return MakeError(Code::kInvalidArgument, "output type=oci,tar=false needs dest=DIR");
      }
      if (tar && dest.empty()) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("output type={} needs dest=FILE (or dest=- for stdout)",
                                     spec.type));
      }
      if (multi && spec.type == "docker") {
        return MakeError(Code::kInvalidArgument,
                         "docker exporter does not support exporting manifest lists, use the "
                         "oci exporter");
      }
      HOIST_ASSIGN_OR_RETURN(ExportResult images, WriteImages(engine, results, spec, epoch));
      HOIST_ASSIGN_OR_RETURN(images.names, ImageNames(spec, args.tags));
      if (!tar) {
        HOIST_TRY(exporter::ExportToLayoutDirectory(PosixFileSystem(), engine.content(),
                                                    *images.root, images.names, dest));
      } else {
        exporter::ArchiveOptions ao{.format = spec.type == "docker" ? exporter::ArchiveFormat::kDocker
                                                                    : exporter::ArchiveFormat::kOci,
                                    .names = images.names};
        HOIST_TRY(WithTarDestination(spec.type, dest, [&](archive::ByteSink* sink) {
          return exporter::WriteImageArchive(engine.content(), *images.root, ao, sink);
        }));
      }
      *out = std::move(images);
      continue;
    }
    if (spec.type == "image" || spec.type == "registry") {
      // As BuildKit's image exporter: the image goes into the engine (its names remembered,
      // so `FROM name` with image-resolve-mode=local finds it) and, with push, to a registry.
      bool push = spec.type == "registry";
      bool by_digest = false;
      bool canonical = false;
      if (auto it = spec.attrs.find("push"); it != spec.attrs.end()) {
        HOIST_ASSIGN_OR_RETURN(push, client::ParseBoolAttr("push", it->second));
      }
      if (auto it = spec.attrs.find("push-by-digest"); it != spec.attrs.end()) {
        HOIST_ASSIGN_OR_RETURN(by_digest, client::ParseBoolAttr("push-by-digest", it->second));
      }
      if (auto it = spec.attrs.find("name-canonical"); it != spec.attrs.end()) {
        HOIST_ASSIGN_OR_RETURN(canonical, client::ParseBoolAttr("name-canonical", it->second));
      }
      std::vector<oci::Reference> refs;
      for (const std::string& raw : RawNames(spec, args.tags)) {
        auto parsed = oci::ParseNormalizedNamed(raw);
        if (!parsed) {
          return MakeError(Code::kInvalidArgument,
                           fmt::format("output type={}: invalid image name \"{}\": {}", spec.type,
                                       raw, parsed.error().message()));
        }
        refs.push_back(oci::TagNameOnly(*parsed));
      }
      if (refs.empty() && push) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("output type={}{} needs an image name: add -t NAME or "
                                     "name=NAME",
                                     spec.type, spec.type == "image" ? ",push=true" : ""));
      }
      client::OutputSpec typed = spec;
      // BuildKit v0.11's image exporter writes Docker media types unless told otherwise.
      if (!typed.attrs.contains("oci-mediatypes")) typed.attrs["oci-mediatypes"] = "false";
      HOIST_ASSIGN_OR_RETURN(ExportResult images, WriteImages(engine, results, typed, epoch));
      for (const oci::Reference& r : refs) {
        HOIST_TRY(engine.image_names().Record(r, images.root->digest));
        if (canonical) {
          HOIST_ASSIGN_OR_RETURN(oci::Reference c,
                                 oci::WithDigest(oci::TrimNamed(r), images.root->digest));
          images.image_names.push_back(r.String());
          images.image_names.push_back(c.String());
        } else {
          images.image_names.push_back(r.String());
        }
      }
      if (push) {
        std::string step = "pushing";
        for (const auto& r : refs) step += " " + r.String();
        auto do_push = [&] {
          return PushToRegistry(engine, display, step, *images.root, refs, by_digest);
        };
        HOIST_TRY(display != nullptr ? display->Step(step, do_push) : do_push());
      }
      *out = std::move(images);
      continue;
    }
    return MakeError(Code::kInvalidArgument, fmt::format("unknown output type {}", spec.type));
  }
  return OkStatus();
}

Status WriteMetadataFile(const std::string& path, const ExportResult& r) {
  nlohmann::json j = nlohmann::json::object();
  if (r.root) {
    j["containerimage.digest"] = r.root->digest.str();
    if (r.config) j["containerimage.config.digest"] = r.config->digest.str();
    j["containerimage.descriptor"] = {{"mediaType", r.root->media_type},
                                      {"digest", r.root->digest.str()},
                                      {"size", r.root->size}};
    std::string names;
    for (const auto& n : r.names) {
      if (!names.empty()) names += ",";
      names += n.image_name.empty() ? n.ref_name : n.image_name;
    }
    for (const auto& n : r.image_names) {
      if (!names.empty()) names += ",";
      names += n;
    }
    if (!names.empty()) j["image.name"] = names;
  }
  return WriteFileAtomic(PosixFileSystem(), path, j.dump(2) + "\n");
}

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
    next_->Write(std::move(status));
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

// BuildKit's excerpt of the Dockerfile lines a failed step came from.
std::string DockerfileExcerpt(const std::string& name, const std::string& text,
                              const llb::Definition& def, const std::string& digest) {
  auto d = oci::Digest::Parse(digest);
  if (!d) return "";
  auto it = def.metadata.find(*d);
  if (it == def.metadata.end()) return "";
  auto lines = it->second.description.find("hoist.dockerfile.lines");
  if (lines == it->second.description.end()) return "";
  int start = 0, end = 0;
  if (std::sscanf(lines->second.c_str(), "%d:%d", &start, &end) != 2 || start <= 0) return "";
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

// Where a registry cache lives: `ref=NAME[:TAG]`, tag `buildcache` when none (as buildx's
// examples use); `tag=` is not a registry cache attribute. REQUIRES: CacheSpecs accepted it.
oci::Reference CacheRef(const client::OutputSpec& spec) {
  oci::Reference r = *oci::ParseNormalizedNamed(spec.attrs.at("ref"));
  if (!r.has_tag() && !r.has_digest()) r = *oci::WithTag(r, "buildcache");
  return r;
}

// --cache-from type=local,src=DIR[,tag=T] or type=registry,ref=REF: records the engine lacks
// come from the layout or the registry. A cache that cannot be read only warns, as BuildKit.
void ImportCaches(Engine& engine, const std::vector<client::OutputSpec>& specs) {
  for (const client::OutputSpec& spec : specs) {
    Result<std::vector<exporter::CacheEntry>> entries = std::vector<exporter::CacheEntry>{};
    std::string what;
    if (spec.type == "registry") {
      const oci::Reference ref = CacheRef(spec);
      what = ref.String();
      entries = [&]() -> Result<std::vector<exporter::CacheEntry>> {
        HOIST_ASSIGN_OR_RETURN(oci::Descriptor root, engine.registry().Resolve(ref));
        if (!engine.content().Info(root.digest)) {
          HOIST_ASSIGN_OR_RETURN(std::string bytes, engine.registry().FetchManifest(ref, root));
          auto w = content::WriteBlob(engine.content(), bytes, root.digest);
          if (!w && w.error().code() != Code::kAlreadyExists) return Unexpected(w.error());
        }
        return exporter::ImportCacheManifest(
            engine.layers(), engine.content(), engine.content(), root, what,
            [&](const oci::Descriptor& d) {
              return engine.registry().FetchBlob(ref, d, engine.content());
            });
      }();
    } else {
      const std::string src = spec.attrs.at("src");
      const std::string tag = spec.attrs.contains("tag") ? spec.attrs.at("tag") : "latest";
      what = src;
      entries = exporter::ImportCacheLayout(engine.layers(), engine.content(), src, tag);
    }
    if (!entries) {
      std::fprintf(stderr, "WARNING: failed to import cache from %s: %s\n", what.c_str(),
                   entries.error().message().c_str());
      continue;
    }
    for (const exporter::CacheEntry& e : *entries) {
      auto have = engine.cache().Lookup(e.cache_key);
      if (have && *have) continue;
      (void)engine.cache().Put({.cache_key = e.cache_key,
                                .result_ids = {e.snapshot},
                                .description = "imported from " + what});
    }
  }
}

Result<std::vector<client::OutputSpec>> CacheSpecs(const std::vector<std::string>& values,
                                                   const char* flag, const char* path_key) {
  std::vector<client::OutputSpec> specs;
  for (const std::string& v : values) {
    HOIST_ASSIGN_OR_RETURN(client::OutputSpec spec, client::ParseOutputSpec(v));
    if (spec.type == "registry") {
      if (!spec.attrs.contains("ref") || spec.attrs.at("ref").empty()) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("{} type=registry needs ref=NAME[:TAG]", flag));
      }
      HOIST_TRY(oci::ParseNormalizedNamed(spec.attrs.at("ref")));  // CacheRef relies on it
    } else if (spec.type == "local") {
      if (!spec.attrs.contains(path_key) || spec.attrs.at(path_key).empty()) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("{} type=local needs {}=DIR", flag, path_key));
      }
    } else {
      return MakeError(Code::kUnimplemented,
                       fmt::format("{} type={}: only type=local and type=registry are supported",
                                   flag, spec.type));
    }
    if (auto it = spec.attrs.find("mode"); it != spec.attrs.end() && it->second != "min" &&
                                           it->second != "max") {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("{}: invalid mode {} (min or max)", flag, it->second));
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}


std::atomic<CancelContext*> g_cancel{nullptr};

void OnSignal(int) {
  if (CancelContext* c = g_cancel.load()) c->Cancel("context canceled");
}

Status RunBuild(const BuildArgs& args, const std::string& root, const std::string& config) {
  if (args.context.empty()) return MakeError(Code::kInvalidArgument, "build needs a CONTEXT");
  HOIST_ASSIGN_OR_RETURN(std::optional<int64_t> epoch, SourceDateEpoch());
  std::vector<client::OutputSpec> outputs;
  for (const std::string& o : args.outputs) {
    HOIST_ASSIGN_OR_RETURN(client::OutputSpec spec, client::ParseOutputSpec(o));
    outputs.push_back(std::move(spec));
  }
  if (args.push) {
    // buildx's --push: push=true on an image output, or a registry output of its own.
    bool found = false;
    for (client::OutputSpec& o : outputs) {
      if (o.type == "image" || o.type == "registry") {
        o.attrs["push"] = "true";
        found = true;
      }
    }
    if (!found) outputs.push_back(client::OutputSpec{.type = "registry", .attrs = {}});
  }
  // A push without a name is refused before anything is built, as buildx does.
  for (const client::OutputSpec& o : outputs) {
    const bool push = o.type == "registry" || (o.type == "image" && o.attrs.contains("push") &&
                                               client::ParseBoolAttr("push", o.attrs.at("push"))
                                                   .value_or(false));
    if (push && RawNames(o, args.tags).empty()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("output type={}{} needs an image name: add -t NAME or "
                                   "name=NAME",
                                   o.type, o.type == "image" ? ",push=true" : ""));
    }
  }
  HOIST_ASSIGN_OR_RETURN(auto cache_to, CacheSpecs(args.cache_to, "--cache-to", "dest"));
  HOIST_ASSIGN_OR_RETURN(auto cache_from, CacheSpecs(args.cache_from, "--cache-from", "src"));
  // --platform a,b: one solve per platform, exported together (an index for images).
  std::vector<std::optional<oci::Platform>> platforms;
  for (size_t from = 0; from < args.platform.size();) {
    size_t comma = args.platform.find(',', from);
    if (comma == std::string::npos) comma = args.platform.size();
    const std::string one = args.platform.substr(from, comma - from);
    from = comma + 1;
    if (one.empty()) continue;
    HOIST_ASSIGN_OR_RETURN(oci::Platform p, oci::ParsePlatform(one));
    platforms.push_back(oci::Normalize(p));
  }
  if (platforms.empty()) platforms.push_back(std::nullopt);
  const std::optional<oci::Platform> platform = platforms.front();

  // Client side: attach the context, the Dockerfile's directory, stores and secrets.
  HOIST_ASSIGN_OR_RETURN(client::PreparedBuild prepared, client::PrepareBuild(args.flags));
  std::shared_ptr<session::ClientSession> session = prepared.session;
  if (auto st = session->AttachLocalDir("context", args.context); !st) {
    return MakeError(st.error().code(),
                     fmt::format("unable to prepare context: path \"{}\" not found", args.context));
  }
  std::string file = args.file.empty() ? args.context + "/Dockerfile" : args.file;
  const size_t slash = file.rfind('/');
  const std::string file_dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : file.substr(0, slash));
  const std::string file_name = slash == std::string::npos ? file : file.substr(slash + 1);
  if (auto st = session->AttachLocalDir("dockerfile", file_dir); !st) {
    return MakeError(st.error().code(),
                     fmt::format("failed to read dockerfile: open {}: no such file or directory", file));
  }

  // Frontend: read the Dockerfile and .dockerignore through the session and convert.
  auto dockerfile = ReadClientFile(*session, "dockerfile", file_name, false);
  if (!dockerfile) {
    return MakeError(dockerfile.error().code(),
                     fmt::format("failed to read dockerfile: open {}: {}", file,
                                 dockerfile.error().code() == Code::kNotFound
                                     ? "no such file or directory"
                                     : dockerfile.error().message()));
  }
  HOIST_ASSIGN_OR_RETURN(std::string ignore,
                         ReadClientFile(*session, "dockerfile", file_name + ".dockerignore", true));
  if (ignore.empty()) {
    HOIST_ASSIGN_OR_RETURN(ignore, ReadClientFile(*session, "context", ".dockerignore", true));
  }
  frontend::dockerfile::ConvertOptions co;
  for (const std::string& a : args.build_args) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos) {
      if (const char* v = std::getenv(a.c_str())) co.build_args[a] = v;
      continue;
    }
    co.build_args[a.substr(0, eq)] = a.substr(eq + 1);
  }
  co.target = args.target;
  // BUILDPLATFORM is where RUN steps execute: this machine.
  co.build_platform = oci::HostPlatform();
  if (platform) co.target_platforms = {*platform};
  co.frontend_opts = prepared.frontend_attrs;
  co.session_id = session->id();
  co.dockerignore = ignore;
  co.dockerfile_name = file_name;
  co.source_date_epoch = epoch;
  if (auto it = co.frontend_opts.find("image-resolve-mode"); it != co.frontend_opts.end()) {
    HOIST_TRY(source::ParseResolveMode(it->second));
    co.image_resolve_mode = it->second;
  }
  if (args.pull) co.image_resolve_mode = "pull";

  if (args.print_llb) {
    session::SessionManager sessions;
    HOIST_TRY(sessions.Register(session));
    EngineResolver resolver(&sessions, {session->id()});
    co.resolver = &resolver;
    co.resolve_registry_images = false;
    HOIST_ASSIGN_OR_RETURN(auto converted, frontend::dockerfile::ConvertToLLB(*dockerfile, co));
    HOIST_ASSIGN_OR_RETURN(std::string dump, llb::DumpLLB(converted.definition));
    std::fwrite(dump.data(), 1, dump.size(), stdout);
    return OkStatus();
  }

  HOIST_ASSIGN_OR_RETURN(auto engine, Engine::Open({.root = root,
                                                    .runtime = args.runtime,
                                                    .registry_config = config}));
  HOIST_TRY(engine->sessions().Register(session));
  HOIST_TRY(PosixFileSystem()->MakeDirs(engine->root() + "/ops", 0700));
  ImportCaches(*engine, cache_from);

  auto cancel = CancelContext::Background();
  g_cancel = cancel.get();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (outputs.empty()) {
    std::fprintf(stderr, "WARNING: No output specified; the build result will only remain in "
                         "the build cache. Use -o type=oci,dest=FILE (or --output) to keep it.\n");
  }
  HOIST_ASSIGN_OR_RETURN(auto display, ProgressDisplay::Start(args.progress));
  FailureTracker tracker(display->writer());
  EngineResolver resolver(&engine->sessions(), {session->id()}, &tracker,
                          {.client = &engine->registry(),
                           .content = &engine->content(),
                           .names = &engine->image_names()});
  co.resolver = &resolver;
  std::vector<PlatformResult> results;
  Status st;
  std::optional<frontend::dockerfile::ConvertResult> failed_conversion;
  for (const std::optional<oci::Platform>& p : platforms) {
    if (p) co.target_platforms = {*p};
    auto converted = frontend::dockerfile::ConvertToLLB(*dockerfile, co);
    if (!converted) {
      st = Unexpected(std::move(converted).error());
      break;
    }
    for (const auto& w : converted->warnings) {
      std::fprintf(stderr, "WARNING: %s\n", w.short_message.c_str());
    }
    auto worker = std::make_unique<solver::ops::Worker>(solver::ops::WorkerOptions{
        .snapshotter = &engine->snapshotter(),
        .layers = &engine->layers(),
        .content = &engine->content(),
        .executor = engine->executor(),
        .sessions = &engine->sessions(),
        .session_ids = {session->id()},
        .state_dir = engine->root() + "/ops",
        .default_platform = p.value_or(oci::HostPlatform()),
        .registry = &engine->registry(),
        .image_names = &engine->image_names()});
    solver::Solver solver(worker.get(), worker.get(), &engine->cache());
    auto solved = solver.Solve(converted->definition,
                               {.no_cache = args.no_cache, .progress = &tracker}, cancel);
    if (!solved) {
      st = Unexpected(std::move(solved).error());
      failed_conversion = std::move(*converted);
      break;
    }
    std::string result;
    if (solved->ref.empty()) {
      auto empty = worker->EmptyRef();
      if (!empty) {
        st = Unexpected(std::move(empty).error());
        break;
      }
      result = empty->id();
    } else {
      result = solved->ref.id();
    }
    results.push_back({.platform = p, .snapshot = result, .converted = std::move(*converted),
                       .worker = std::move(worker), .vertices = std::move(solved->vertices),
                       .cache_key = solved->cache_key});
  }
  ExportResult exported;
  if (st) {
    st = display->Step("exporting", [&] {
      return Export(*engine, results, args, outputs, epoch, display.get(), &exported);
    });
  }
  for (const client::OutputSpec& spec : cache_to) {
    if (!st) break;
    const std::string cache_dest =
        spec.type == "registry" ? CacheRef(spec).String() : spec.attrs.at("dest");
    st = display->Step("exporting cache to " + cache_dest, [&]() -> Status {
      const bool max = spec.attrs.contains("mode") && spec.attrs.at("mode") == "max";
      std::vector<exporter::CacheEntry> entries;
      for (const PlatformResult& r : results) {
        for (const solver::SolvedVertex& v : r.vertices) {
          if (!max && v.cache_key != r.cache_key) continue;
          for (const std::string& id : v.result_ids) {
            if (id.empty() || id.starts_with(solver::ops::kMirrorIdPrefix)) continue;
            entries.push_back({.cache_key = v.cache_key, .snapshot = id});
            break;  // one result per key: the first output
          }
        }
      }
      exporter::SnapshotImageOptions io;
      io.diff_cache_dir = engine->root() + "/diffs";
      if (spec.type == "registry") {
        HOIST_ASSIGN_OR_RETURN(oci::Descriptor root,
                               exporter::WriteCacheManifest(engine->snapshotter(),
                                                            engine->content(), entries, io));
        return PushToRegistry(*engine, display.get(), "exporting cache to " + cache_dest, root,
                              {CacheRef(spec)}, false);
      }
      const std::string tag = spec.attrs.contains("tag") ? spec.attrs.at("tag") : "latest";
      return exporter::ExportCacheLayout(engine->snapshotter(), engine->content(), entries,
                                         spec.attrs.at("dest"), tag, io);
    });
  }
  display->Finish();
  if (!st && st.error().code() != Code::kCancelled && failed_conversion) {
    const std::string excerpt = DockerfileExcerpt(file_name, *dockerfile,
                                                  failed_conversion->definition, tracker.failed());
    if (!excerpt.empty()) std::fputs(excerpt.c_str(), stderr);
  }
  g_cancel = nullptr;
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  engine->sessions().Unregister(session->id());
  HOIST_TRY(st);
  if (!args.metadata_file.empty()) HOIST_TRY(WriteMetadataFile(args.metadata_file, exported));
  return OkStatus();
}

}  // namespace

void RegisterBuildCommand(CLI::App& app, const std::string* root, const std::string* config,
                          Status* status) {
  auto args = std::make_shared<BuildArgs>();
  CLI::App* b = app.add_subcommand("build", "Build an image from a Dockerfile");
  b->add_option("CONTEXT", args->context, "Build context directory")->required();
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
  b->callback([args, root, config, status] {
    *status = RunBuild(*args, *root, *config);
  });
}

}  // namespace hoist::cmd
