#include "exporter/image_archive.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "archive/tar_writer.h"
#include "exporter/attestation.h"
#include "oci/image_layout.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::exporter {
namespace {

std::string BlobPath(const oci::Digest& d) {
  return fmt::format("blobs/{}/{}", d.algorithm(), d.encoded());
}

// One tar entry: either literal bytes or a blob streamed from the store.
struct Record {
  std::string name;
  bool directory = false;
  std::string data;
  std::optional<oci::Descriptor> blob;
};

bool IsIndex(std::string_view media_type) {
  return media_type == oci::kMediaTypeImageIndex ||
         media_type == oci::kMediaTypeDockerManifestList;
}

Status WriteRecord(content::ContentStore& store, const Record& r, archive::TarWriter& tar) {
  archive::TarEntry e;
  e.name = r.name;
  if (r.directory) {
    e.type = archive::TarEntryType::kDirectory;
    e.typeflag = '5';
    e.mode = 0755;
    return tar.WriteHeader(e);
  }
  e.type = archive::TarEntryType::kRegular;
  e.typeflag = '0';
  e.mode = 0444;
  if (!r.blob) {
    e.size = static_cast<int64_t>(r.data.size());
    HOIST_TRY(tar.WriteHeader(e));
    return tar.WriteData(r.data);
  }
  e.size = r.blob->size;
  HOIST_TRY(tar.WriteHeader(e));
  // Streamed and verified: a blob that changed under us fails the export naming its digest.
  return content::ReadVerified(store, *r.blob, [&](std::string_view chunk) {
    return tar.WriteData(chunk);
  });
}

// The image `docker load` takes: the root manifest, or the one runnable manifest of an index
// whose other entries are attestations about it.
Result<oci::Descriptor> DockerImage(content::ContentStore& store, const oci::Descriptor& root) {
  if (!IsIndex(root.media_type)) return root;
  HOIST_ASSIGN_OR_RETURN(std::string bytes, content::ReadBlob(store, root));
  HOIST_ASSIGN_OR_RETURN(oci::Index index, oci::ParseIndex(bytes));
  std::vector<oci::Descriptor> runnable;
  for (const oci::Descriptor& d : index.manifests) {
    if (!IsAttestationManifest(d)) runnable.push_back(d);
  }
  if (runnable.size() != 1 || IsIndex(runnable[0].media_type)) {
    return MakeError(Code::kInvalidArgument,
                     "docker exporter does not support exporting manifest lists, use the oci "
                     "exporter");
  }
  return runnable[0];
}

Result<std::string> DockerManifestJson(content::ContentStore& store, const oci::Descriptor& root,
                                       const std::vector<content::LayoutName>& names) {
  HOIST_ASSIGN_OR_RETURN(oci::Descriptor image, DockerImage(store, root));
  HOIST_ASSIGN_OR_RETURN(std::string bytes, content::ReadBlob(store, image));
  HOIST_ASSIGN_OR_RETURN(oci::Manifest manifest, oci::ParseManifest(bytes));
  nlohmann::json entry;
  entry["Config"] = BlobPath(manifest.config.digest);
  nlohmann::json tags = nlohmann::json::array();
  for (const content::LayoutName& n : names) {
    if (!n.image_name.empty()) tags.push_back(FamiliarName(n.image_name));
  }
  entry["RepoTags"] = tags;
  nlohmann::json layers = nlohmann::json::array();
  for (const oci::Descriptor& l : manifest.layers) layers.push_back(BlobPath(l.digest));
  entry["Layers"] = layers;
  return nlohmann::json::array({entry}).dump();
}

}  // namespace

std::string FamiliarName(std::string_view full_name) {
  std::string_view s = full_name;
  if (s.starts_with("docker.io/")) {
    s.remove_prefix(10);
    if (s.starts_with("library/") && s.substr(8).find('/') == std::string_view::npos) {
      s.remove_prefix(8);
    }
  }
  return std::string(s);
}

Status WriteImageArchive(content::ContentStore& store, const oci::Descriptor& root,
                         const ArchiveOptions& options, archive::ByteSink* out) {
  std::vector<content::VerifyProblem> problems;
  HOIST_ASSIGN_OR_RETURN(std::vector<oci::Descriptor> blobs,
                         content::ReachableFrom(store, {root}, &problems));
  if (!problems.empty()) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("image {}: blob {}: {}", root.digest.str(),
                                 problems[0].digest.str(), problems[0].problem));
  }
  std::vector<Record> records;
  std::map<std::string, bool> dirs;
  dirs["blobs/"] = true;
  for (const oci::Descriptor& b : blobs) {
    const std::string path = BlobPath(b.digest);
    if (std::any_of(records.begin(), records.end(),
                    [&](const Record& r) { return r.name == path; })) {
      continue;
    }
    dirs[fmt::format("blobs/{}/", b.digest.algorithm())] = true;
    records.push_back({.name = path, .blob = b});
  }
  for (const auto& [dir, unused] : dirs) records.push_back({.name = dir, .directory = true});
  records.push_back({.name = "oci-layout", .data = oci::SerializeImageLayout({})});
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeImageIndex);
  index.manifests = content::NamedIndexEntries(root, options.names);
  records.push_back({.name = "index.json", .data = oci::SerializeIndex(index)});
  if (options.format == ArchiveFormat::kDocker) {
    HOIST_ASSIGN_OR_RETURN(std::string manifest_json,
                           DockerManifestJson(store, root, options.names));
    records.push_back({.name = "manifest.json", .data = std::move(manifest_json)});
  }
  std::sort(records.begin(), records.end(),
            [](const Record& a, const Record& b) { return a.name < b.name; });
  archive::TarWriter tar(out);
  for (const Record& r : records) HOIST_TRY(WriteRecord(store, r, tar));
  return tar.Close();
}

}  // namespace hoist::exporter
