#include "cmd/layout_command.h"


#include <fmt/core.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/temp_dir.h"
#include "cmd/image_ref.h"
#include "cmd/output.h"
#include "cmd/registry_wiring.h"
#include "content/local_content_store.h"
#include "registry/image_transfer.h"
#include "content/image_resolver.h"
#include "content/layout_ref.h"
#include "content/oci_layout.h"
#include "oci/image_config.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::cmd {
namespace {

using content::OciLayout;
using nlohmann::ordered_json;

void Print(std::string_view s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string DisplayName(const oci::Descriptor& d) {
  std::string name = Annotation(d, content::kAnnotationImageName);
  if (name.empty()) name = Annotation(d, content::kAnnotationRefName);
  return name.empty() ? "<none>" : name;
}

ordered_json RawJson(const std::string& raw) {
  auto j = ordered_json::parse(raw, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? ordered_json(raw) : j;
}

std::string JoinPlatforms(const std::vector<oci::Platform>& ps) {
  std::string out;
  for (const auto& p : ps) {
    if (!out.empty()) out += ",";
    out += oci::FormatPlatform(p);
  }
  return out;
}

Status ListCommand(const std::string& path, const std::string& format) {
  if (format != "table" && format != "json") {
    return MakeError(Code::kInvalidArgument,
                     "invalid --format \"" + format + "\": expected table or json");
  }
  HOIST_ASSIGN_OR_RETURN(auto layout, OciLayout::Open(PosixFileSystem(), path, /*read_only=*/true));
  HOIST_ASSIGN_OR_RETURN(oci::Index index, layout->ReadIndex());
  std::vector<std::vector<std::string>> rows = {{"NAME", "DIGEST", "MEDIA TYPE", "PLATFORMS", "SIZE"}};
  ordered_json list = ordered_json::array();
  for (const auto& entry : index.manifests) {
    // A broken or partial image is still listed; what could not be read shows as "-".
    auto platforms = content::ImagePlatforms(layout->store(), entry);
    auto reachable = content::ReachableFrom(layout->store(), {entry}, nullptr);
    int64_t size = 0;
    if (reachable) {
      for (const auto& d : *reachable) size += d.size;
    }
    std::string plat = platforms ? JoinPlatforms(*platforms) : "";
    rows.push_back({DisplayName(entry), entry.digest.str(), entry.media_type,
                    plat.empty() ? "-" : plat, reachable ? HumanSize(size) : "-"});
    ordered_json j;
    j["name"] = Annotation(entry, content::kAnnotationImageName);
    j["tag"] = Annotation(entry, content::kAnnotationRefName);
    j["digest"] = entry.digest.str();
    j["mediaType"] = entry.media_type;
    j["platforms"] = ordered_json::array();
    if (platforms) {
      for (const auto& p : *platforms) j["platforms"].push_back(oci::FormatPlatform(p));
    }
    j["size"] = size;
    list.push_back(std::move(j));
  }
  Print(format == "json" ? list.dump(2) + "\n" : FormatTable(rows));
  return OkStatus();
}

Status InspectCommand(const std::string& arg, const std::string& platform) {
  HOIST_ASSIGN_OR_RETURN(OpenedImage opened, OpenImage(arg, platform));
  const content::ResolvedImage& image = opened.image;
  ordered_json out;
  out["name"] = Annotation(image.root, content::kAnnotationImageName);
  out["tag"] = Annotation(image.root, content::kAnnotationRefName);
  out["descriptor"] = RawJson(oci::SerializeDescriptor(image.root));
  if (image.manifest_desc.digest != image.root.digest) {
    out["manifestDescriptor"] = RawJson(oci::SerializeDescriptor(image.manifest_desc));
  }
  oci::Platform p;
  p.os = image.config.os;
  p.architecture = image.config.architecture;
  p.variant = image.config.variant;
  out["platform"] = oci::FormatPlatform(p);
  out["manifest"] = RawJson(image.manifest_json);
  out["config"] = RawJson(image.config_json);
  Print(out.dump(2) + "\n");
  return OkStatus();
}

Status VerifyCommand(const std::string& path, int jobs) {
  HOIST_ASSIGN_OR_RETURN(auto layout, OciLayout::Open(PosixFileSystem(), path, /*read_only=*/true));
  if (jobs <= 0) jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  HOIST_ASSIGN_OR_RETURN(content::VerifyReport report, layout->Verify(jobs));
  for (const auto& p : report.problems) {
    Print(fmt::format("{}: {}\n", p.digest.str(), p.problem));
  }
  if (!report.ok()) {
    return MakeError(Code::kDataLoss,
                     fmt::format("{}: {} problem(s) found in {} blob(s)", path,
                                 report.problems.size(), report.blobs));
  }
  Print(fmt::format("{}: {} blobs verified ({})\n", path, report.blobs, HumanSize(report.bytes)));
  return OkStatus();
}

Status GcCommand(const std::string& path, bool dry_run) {
  HOIST_ASSIGN_OR_RETURN(auto layout,
                         OciLayout::OpenDirectory(PosixFileSystem(), path, /*read_only=*/false));
  HOIST_ASSIGN_OR_RETURN(content::GcReport report, layout->CollectGarbage(dry_run));
  for (const auto& b : report.removed) {
    Print(fmt::format("{} {} ({})\n", dry_run ? "would remove" : "removed", b.digest.str(),
                      HumanSize(b.size)));
  }
  Print(fmt::format("{}: {} blob(s), {} {}\n", path, report.removed.size(), HumanSize(report.bytes),
                    dry_run ? "would be reclaimed" : "reclaimed"));
  return OkStatus();
}

Status TagCommand(const std::string& path, const std::string& source, const std::string& target) {
  HOIST_ASSIGN_OR_RETURN(content::LayoutName name, content::LayoutName::Parse(target));
  HOIST_ASSIGN_OR_RETURN(auto layout,
                         OciLayout::OpenDirectory(PosixFileSystem(), path, /*read_only=*/false));
  oci::Descriptor desc;
  std::string_view src = source;
  if (!src.empty() && src.front() == '@') src.remove_prefix(1);
  if (auto d = oci::Digest::Parse(src); d) {
    HOIST_ASSIGN_OR_RETURN(desc, layout->ResolveDigest(*d));
  } else {
    HOIST_ASSIGN_OR_RETURN(desc, layout->ResolveTag(source, /*single_fallback=*/false));
  }
  if (!oci::IsIndexType(desc.media_type) && !oci::IsManifestType(desc.media_type)) {
    return MakeError(Code::kInvalidArgument,
                     desc.digest.str() + " is neither an image index nor a manifest");
  }
  desc.annotations.erase(std::string(content::kAnnotationImageName));
  desc.annotations.erase(std::string(content::kAnnotationRefName));
  return layout->Put(desc, {name});
}

Status UntagCommand(const std::string& path, const std::string& tag) {
  HOIST_ASSIGN_OR_RETURN(auto layout,
                         OciLayout::OpenDirectory(PosixFileSystem(), path, /*read_only=*/false));
  return layout->Untag(tag);
}

constexpr std::string_view kDockerScheme = "docker://";

// `cp`'s DEST as a layout: LAYOUT[:TAG], never a digest.
Result<content::LayoutRef> LayoutDestination(const std::string& dest) {
  content::LayoutRef dst = SplitRef(dest);
  if (dst.digest.valid()) {
    return MakeError(Code::kInvalidArgument,
                     "destination \"" + dest + "\" must be LAYOUT[:TAG], not a digest");
  }
  return dst;
}

// The names a copy gets in a layout: DEST's tag and every --tag.
Result<std::vector<content::LayoutName>> CopyNames(const content::LayoutRef& dst,
                                                   const std::vector<std::string>& tags) {
  std::vector<content::LayoutName> names;
  if (!dst.tag.empty()) names.push_back(content::LayoutName{"", dst.tag});
  for (const auto& t : tags) {
    HOIST_ASSIGN_OR_RETURN(content::LayoutName n, content::LayoutName::Parse(t));
    names.push_back(std::move(n));
  }
  return names;
}

struct CopyOptions {
  std::vector<std::string> tags;
  std::string platform;  // "" : the host's (from an index), unless all
  bool all = false;      // every platform of an index
  std::string config;    // registry configuration file
};

Result<oci::Reference> DockerRef(std::string_view arg) {
  arg.remove_prefix(kDockerScheme.size());
  auto r = oci::ParseNormalizedNamed(arg);
  if (!r) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid image reference \"{}\": {}", arg, r.error().message()));
  }
  return oci::TagNameOnly(*r);
}

// Prints a line per blob as it completes.
registry::BlobEventFn BlobPrinter(const char* verb) {
  return [verb](const registry::BlobEvent& e) {
    if (!e.finished) return;
    Print(fmt::format("{} {} {}\n", e.skipped ? "exists " : verb, e.desc.digest.str(),
                      HumanSize(e.desc.size)));
  };
}

// `layout cp` with a registry on either side (or both): pulled into the destination layout, or
// pushed from the source layout; registry to registry goes through a temporary store.
Status CopyWithRegistry(const std::string& source, const std::string& dest,
                        const CopyOptions& options) {
  const bool from_registry = source.starts_with(kDockerScheme);
  const bool to_registry = dest.starts_with(kDockerScheme);
  HOIST_ASSIGN_OR_RETURN(auto client, NewRegistryClient(options.config, "",
                                       std::make_shared<registry::DockerConfigCredentials>()));
  std::optional<oci::Platform> platform;
  if (!options.platform.empty()) {
    HOIST_ASSIGN_OR_RETURN(oci::Platform p, oci::ParsePlatform(options.platform));
    platform = oci::Normalize(p);
  }
  // The source: a store holding the image and its root descriptor.
  std::unique_ptr<OciLayout> from_layout;
  std::unique_ptr<content::LocalContentStore> scratch_store;
  std::optional<TempDir> scratch;
  std::unique_ptr<OciLayout> to_layout;
  content::LayoutRef dst;
  if (!to_registry) {
    HOIST_ASSIGN_OR_RETURN(dst, LayoutDestination(dest));
    HOIST_ASSIGN_OR_RETURN(to_layout, OciLayout::CreateOrOpen(PosixFileSystem(), dst.path));
  }
  content::ContentStore* store = nullptr;
  oci::Descriptor root;
  std::string source_name;
  if (from_registry) {
    HOIST_ASSIGN_OR_RETURN(oci::Reference ref, DockerRef(source));
    // Registry to registry goes through a scratch store; so does the metadata of one platform
    // copied into a layout, so that the index it was chosen from is not left there unnamed.
    if (to_registry || !options.all) {
      HOIST_ASSIGN_OR_RETURN(scratch, TempDir::Create("hoist-cp-"));
      HOIST_ASSIGN_OR_RETURN(scratch_store,
                             content::LocalContentStore::Open(PosixFileSystem(), scratch->path()));
    }
    store = to_registry ? scratch_store.get() : &to_layout->store();
    const bool metadata_only = !to_registry && !options.all;
    registry::PullOptions po{.platform = platform,
                             .all_platforms = options.all,
                             .layers = !metadata_only,
                             .on_blob = BlobPrinter("copied")};
    HOIST_ASSIGN_OR_RETURN(
        registry::PulledImage pulled,
        registry::PullImage(*client, ref, metadata_only ? *scratch_store : *store, po));
    root = pulled.image ? pulled.image->manifest_desc : pulled.root;
    if (metadata_only) {
      // The chosen manifest and its config from the scratch store; layers straight in.
      HOIST_TRY(content::CopyBlob(*scratch_store, *store, root));
      HOIST_TRY(content::CopyBlob(*scratch_store, *store, pulled.image->manifest.config));
      HOIST_TRY(registry::FetchBlobs(*client, ref,
                                     registry::DistributableLayers(pulled.image->manifest), *store,
                                     registry::kDefaultConcurrency, BlobPrinter("copied"),
                                     nullptr));
    }
    source_name = oci::TrimNamed(ref).String() + (ref.has_tag() ? ":" + ref.tag() : "");
  } else {
    content::LayoutRef src = SplitRef(source);
    HOIST_ASSIGN_OR_RETURN(from_layout, OciLayout::Open(PosixFileSystem(), src.path, true));
    HOIST_ASSIGN_OR_RETURN(root, ResolveRoot(*from_layout, src));
    store = &from_layout->store();
    if (platform && !options.all) {
      HOIST_ASSIGN_OR_RETURN(content::ResolvedImage img,
                             content::ResolveImage(*store, root, platform, source));
      if (oci::IsIndexType(img.root.media_type)) root = img.manifest_desc;
    }
  }
  root.annotations.erase(std::string(content::kAnnotationImageName));
  root.annotations.erase(std::string(content::kAnnotationRefName));
  if (to_registry) {
    HOIST_ASSIGN_OR_RETURN(oci::Reference target, DockerRef(dest));
    std::vector<oci::Reference> targets{target};
    for (const std::string& t : options.tags) {
      HOIST_ASSIGN_OR_RETURN(oci::Reference extra, oci::WithTag(oci::TrimNamed(target), t));
      targets.push_back(extra);
    }
    registry::PushOptions po{.on_blob = BlobPrinter("pushed")};
    HOIST_TRY(registry::PushImage(*client, *store, root, targets, po));
    for (const auto& t : targets) Print(fmt::format("pushed {}@{}\n", t.String(), root.digest.str()));
    return OkStatus();
  }
  // Into a layout, from a registry: without names, the image keeps its reference's.
  HOIST_ASSIGN_OR_RETURN(std::vector<content::LayoutName> names, CopyNames(dst, options.tags));
  if (names.empty()) {
    HOIST_ASSIGN_OR_RETURN(content::LayoutName n, content::LayoutName::Parse(source_name));
    names.push_back(std::move(n));
  }
  HOIST_TRY(to_layout->Put(root, names));
  Print(fmt::format("copied {} to {}\n", root.digest.str(), dst.path));
  return OkStatus();
}

// Copies one image (all its blobs, verified) into a layout directory, creating it if needed.
// Names: DEST's tag and every --tag; without any, the source's name is kept.
Status CopyCommand(const std::string& source, const std::string& dest,
                   const CopyOptions& options) {
  if (source.starts_with(kDockerScheme) || dest.starts_with(kDockerScheme)) {
    return CopyWithRegistry(source, dest, options);
  }
  content::LayoutRef src = SplitRef(source);
  HOIST_ASSIGN_OR_RETURN(content::LayoutRef dst, LayoutDestination(dest));
  HOIST_ASSIGN_OR_RETURN(std::vector<content::LayoutName> names, CopyNames(dst, options.tags));
  HOIST_ASSIGN_OR_RETURN(auto from, OciLayout::Open(PosixFileSystem(), src.path, /*read_only=*/true));
  HOIST_ASSIGN_OR_RETURN(oci::Descriptor root, ResolveRoot(*from, src));
  if (names.empty()) {
    std::string image = Annotation(root, content::kAnnotationImageName);
    std::string tag = Annotation(root, content::kAnnotationRefName);
    if (!image.empty()) {
      HOIST_ASSIGN_OR_RETURN(content::LayoutName n, content::LayoutName::Parse(image));
      names.push_back(std::move(n));
    } else if (!tag.empty()) {
      names.push_back(content::LayoutName{"", tag});
    }
  }
  HOIST_ASSIGN_OR_RETURN(auto to, OciLayout::CreateOrOpen(PosixFileSystem(), dst.path));
  HOIST_ASSIGN_OR_RETURN(int64_t bytes, content::CopyImage(from->store(), to->store(), root));
  root.annotations.erase(std::string(content::kAnnotationImageName));
  root.annotations.erase(std::string(content::kAnnotationRefName));
  HOIST_TRY(to->Put(root, names));
  Print(fmt::format("copied {} to {} ({} new)\n", root.digest.str(), dst.path, HumanSize(bytes)));
  return OkStatus();
}

}  // namespace

void RegisterLayoutCommands(CLI::App& app, const std::string* config, Status* status) {
  CLI::App* layout = app.add_subcommand("layout", "Manage images in OCI image layouts");
  layout->require_subcommand(1);

  struct Args {
    std::string path, format = "table", ref, platform, source, target, tag;
    std::vector<std::string> names;
    bool dry_run = false;
    bool all = false;
    int jobs = 0;
  };
  auto args = std::make_shared<Args>();

  auto* ls = layout->add_subcommand("ls", "List the images in a layout directory or tarball");
  ls->add_option("LAYOUT", args->path, "Layout directory or OCI tarball")->required();
  ls->add_option("--format", args->format, "Output format: table or json");
  ls->callback([args, status] { *status = ListCommand(args->path, args->format); });

  auto* inspect = layout->add_subcommand(
      "inspect", "Show an image's manifest and config (LAYOUT[:TAG|@DIGEST])");
  inspect->add_option("IMAGE", args->ref, "LAYOUT[:TAG|@DIGEST]")->required();
  inspect->add_option("--platform", args->platform, "Platform to select from an index");
  inspect->callback([args, status] { *status = InspectCommand(args->ref, args->platform); });

  auto* verify = layout->add_subcommand(
      "verify", "Check that every reachable blob is present with the right digest and size");
  verify->add_option("LAYOUT", args->path, "Layout directory or OCI tarball")->required();
  verify->add_option("-j,--jobs", args->jobs, "Blobs verified in parallel (default: cores)");
  verify->callback([args, status] { *status = VerifyCommand(args->path, args->jobs); });

  auto* gc = layout->add_subcommand("gc", "Delete blobs that no image in the layout reaches");
  gc->add_option("LAYOUT", args->path, "Layout directory")->required();
  gc->add_flag("--dry-run", args->dry_run, "Only list what would be deleted");
  gc->callback([args, status] { *status = GcCommand(args->path, args->dry_run); });

  auto* tag = layout->add_subcommand("tag", "Give an image in the layout another name");
  tag->add_option("LAYOUT", args->path, "Layout directory")->required();
  tag->add_option("SOURCE", args->source, "Existing tag, name or digest")->required();
  tag->add_option("TARGET", args->target, "New tag (v2) or name (org/app:v2)")->required();
  tag->callback([args, status] { *status = TagCommand(args->path, args->source, args->target); });

  auto* cp = layout->add_subcommand(
      "cp", "Copy an image between layouts and registries (SOURCE[:TAG|@DIGEST] DEST[:TAG]; "
            "docker://REF on either side)");
  cp->add_option("SOURCE", args->source,
                 "Source layout or tarball with tag or digest, or docker://REF")
      ->required();
  cp->add_option("DEST", args->target,
                 "Destination layout directory (optionally with a tag), or docker://REF")
      ->required();
  cp->add_option("-t,--tag", args->names, "Name for the copy (org/app:1.0 or a tag); repeatable");
  cp->add_option("--platform", args->platform,
                 "Copy only this platform's image from an index (default from a registry: this "
                 "machine's)");
  cp->add_flag("--all", args->all, "Copy every platform of an index");
  cp->callback([args, config, status] {
    *status = CopyCommand(args->source, args->target,
                          {.tags = args->names, .platform = args->platform, .all = args->all,
                           .config = *config});
  });

  auto* untag = layout->add_subcommand("untag", "Remove a name from the layout's index");
  untag->add_option("LAYOUT", args->path, "Layout directory")->required();
  untag->add_option("TAG", args->tag, "Tag or name to remove")->required();
  untag->callback([args, status] { *status = UntagCommand(args->path, args->tag); });
}

}  // namespace hoist::cmd
