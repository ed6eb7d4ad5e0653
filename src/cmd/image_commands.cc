#include "cmd/image_commands.h"

#include <fmt/core.h>

#include <chrono>
#include <cstdio>

#include "archive/compression.h"
#include "base/file_system.h"
#include "cmd/image_ref.h"
#include "cmd/output.h"
#include "exporter/pack.h"
#include "snapshot/unpack.h"

namespace hoist::cmd {
namespace {

void Print(std::string_view s) { std::fwrite(s.data(), 1, s.size(), stdout); }

Status UnpackCommand(const std::string& image_arg, const std::string& dest,
                     const std::string& platform) {
  auto start = std::chrono::steady_clock::now();
  HOIST_ASSIGN_OR_RETURN(OpenedImage opened, OpenImage(image_arg, platform));
  HOIST_ASSIGN_OR_RETURN(snapshot::UnpackStats stats,
                         snapshot::UnpackImage(opened.layout->store(), opened.image, dest));
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Print(fmt::format("unpacked {} ({} layer(s), {} entries, {}) into {} in {:.2f}s\n",
                    opened.image.manifest_desc.digest.str(), stats.layers, stats.entries,
                    HumanSize(static_cast<int64_t>(stats.uncompressed_bytes)), dest, secs));
  return OkStatus();
}

struct PackArgs {
  std::string dir, layout, base, config_from, compression = "gzip", platform;
  std::vector<std::string> tags;
  int level = -1;
};

Result<archive::CompressorOptions> CompressionFromFlags(const std::string& name, int level) {
  archive::CompressorOptions c;
  if (name == "gzip") {
    c.compression = archive::Compression::kGzip;
  } else if (name == "zstd") {
    c.compression = archive::Compression::kZstd;
  } else if (name == "none" || name == "uncompressed") {
    c.compression = archive::Compression::kNone;
  } else {
    return MakeError(Code::kInvalidArgument,
                     "invalid --compression \"" + name + "\": expected gzip, zstd or none");
  }
  if (level >= 0) c.level = level;
  return c;
}

Status PackCommand(const PackArgs& a) {
  exporter::PackOptions opts;
  opts.dir = a.dir;
  for (const auto& t : a.tags) {
    HOIST_ASSIGN_OR_RETURN(content::LayoutName n, content::LayoutName::Parse(t));
    opts.names.push_back(std::move(n));
  }
  HOIST_ASSIGN_OR_RETURN(opts.compression, CompressionFromFlags(a.compression, a.level));
  std::optional<OpenedImage> base;
  if (!a.base.empty()) {
    HOIST_ASSIGN_OR_RETURN(base, OpenImage(a.base, a.platform));
    opts.base_store = &base->layout->store();
    opts.base = base->image;
  } else if (!a.platform.empty()) {
    HOIST_ASSIGN_OR_RETURN(opts.platform, oci::ParsePlatform(a.platform));
  } else {
    opts.platform = oci::HostPlatform();
  }
  if (!a.config_from.empty()) {
    HOIST_ASSIGN_OR_RETURN(std::string text, PosixFileSystem()->ReadFile(a.config_from, 4 << 20));
    auto config = exporter::ParseContainerConfig(text);
    if (!config) return Unexpected(std::move(config).error().Wrap(a.config_from));
    opts.config = std::move(*config);
  }
  HOIST_ASSIGN_OR_RETURN(auto dir_info, PosixFileSystem()->Stat(a.dir));
  if (!dir_info || dir_info->type != FileInfo::Type::kDirectory) {
    return MakeError(Code::kInvalidArgument, "pack " + a.dir + ": not a directory");
  }
  HOIST_ASSIGN_OR_RETURN(auto dest, content::OciLayout::CreateOrOpen(PosixFileSystem(), a.layout));
  HOIST_ASSIGN_OR_RETURN(exporter::PackResult r, exporter::PackDirectory(*dest, opts));
  Print(fmt::format("{}\n", r.manifest.digest.str()));
  std::fprintf(stderr, "packed %s as layer %s (%s, %s uncompressed)\n", a.dir.c_str(),
               r.layer.descriptor.digest.str().c_str(),
               HumanSize(r.layer.descriptor.size).c_str(),
               HumanSize(static_cast<int64_t>(r.layer.uncompressed_size)).c_str());
  return OkStatus();
}

}  // namespace

void RegisterImageCommands(CLI::App& app, Status* status) {
  struct UnpackArgs {
    std::string image, dest, platform;
  };
  auto u = std::make_shared<UnpackArgs>();
  auto* unpack = app.add_subcommand(
      "unpack", "Write an image's root filesystem into a new directory (every layer verified)");
  unpack->add_option("IMAGE", u->image, "LAYOUT[:TAG|@DIGEST] (directory or OCI tarball)")
      ->required();
  unpack->add_option("DIR", u->dest, "Destination; must not exist or be empty")->required();
  unpack->add_option("--platform", u->platform, "Platform to select from an index");
  unpack->callback([u, status] { *status = UnpackCommand(u->image, u->dest, u->platform); });

  auto p = std::make_shared<PackArgs>();
  auto* pack = app.add_subcommand(
      "pack", "Make an image from a directory (one layer, optionally on a base) in a layout");
  pack->add_option("DIR", p->dir, "Directory whose tree becomes the layer")->required();
  pack->add_option("--layout", p->layout, "Layout directory to write into (created if needed)")
      ->required();
  pack->add_option("-t,--tag", p->tags, "Name (org/app:1.0) or tag (1.0); repeatable");
  pack->add_option("--base", p->base, "Base image: LAYOUT[:TAG|@DIGEST]");
  pack->add_option("--config-from", p->config_from,
                   "JSON file: an image config, or its \"config\" object (Env, Cmd, ...)");
  pack->add_option("--compression", p->compression, "gzip (default), zstd or none");
  pack->add_option("--compression-level", p->level, "Compression level");
  pack->add_option("--platform", p->platform, "Platform of a new image, or to pick from the base");
  pack->callback([p, status] { *status = PackCommand(*p); });
}

}  // namespace hoist::cmd
