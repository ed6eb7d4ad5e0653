#include "session/testing/test_layout.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "base/file_system.h"
#include "base/testing/test_files.h"
#include "oci/image_config.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::session::testing {

oci::Platform MakePlatform(const std::string& os, const std::string& arch,
                           const std::string& variant) {
  oci::Platform p;
  p.os = os;
  p.architecture = arch;
  p.variant = variant;
  return p;
}

namespace {
Result<oci::Descriptor> Put(content::ContentStore& store, std::string_view media_type,
                            const std::string& data) {
  HOIST_ASSIGN_OR_RETURN(auto info, content::WriteBlob(store, data));
  oci::Descriptor d;
  d.media_type = std::string(media_type);
  d.digest = info.digest;
  d.size = info.size;
  return d;
}
}  // namespace

Result<TestImage> WriteTestImage(content::ContentStore& store,
                                 const std::vector<std::string>& layer_bytes,
                                 const oci::Platform& platform,
                                 const std::vector<std::string>& env) {
  TestImage img;
  img.layer_bytes = layer_bytes;
  oci::ImageConfig config;
  config.os = platform.os;
  config.architecture = platform.architecture;
  config.variant = platform.variant;
  config.config.env = env;
  config.config.working_dir = "/work";
  for (const std::string& l : layer_bytes) {
    HOIST_ASSIGN_OR_RETURN(auto d, Put(store, oci::kMediaTypeImageLayer, l));
    img.layers.push_back(d);
    config.rootfs.diff_ids.push_back(d.digest);
  }
  img.config_json = oci::SerializeImageConfig(config);
  HOIST_ASSIGN_OR_RETURN(img.config, Put(store, oci::kMediaTypeImageConfig, img.config_json));
  oci::Manifest m;
  m.media_type = std::string(oci::kMediaTypeImageManifest);
  m.config = img.config;
  m.layers = img.layers;
  HOIST_ASSIGN_OR_RETURN(img.manifest,
                         Put(store, oci::kMediaTypeImageManifest, oci::SerializeManifest(m)));
  return img;
}

Result<oci::Descriptor> WriteTestIndex(content::ContentStore& store,
                                       const std::vector<TestImage>& images,
                                       const std::vector<oci::Platform>& platforms) {
  oci::Index index;
  index.media_type = std::string(oci::kMediaTypeImageIndex);
  for (size_t i = 0; i < images.size(); ++i) {
    oci::Descriptor d = images[i].manifest;
    d.platform = platforms.at(i);
    index.manifests.push_back(d);
  }
  return Put(store, oci::kMediaTypeImageIndex, oci::SerializeIndex(index));
}

Status CreateLayoutWith(const std::string& dir,
                        const std::function<Result<oci::Descriptor>(content::ContentStore&)>& fill,
                        const std::vector<std::string>& names) {
  HOIST_ASSIGN_OR_RETURN(auto layout, content::OciLayout::CreateOrOpen(PosixFileSystem(), dir));
  HOIST_ASSIGN_OR_RETURN(auto root, fill(layout->store()));
  std::vector<content::LayoutName> parsed;
  for (const std::string& n : names) {
    HOIST_ASSIGN_OR_RETURN(auto ln, content::LayoutName::Parse(n));
    parsed.push_back(ln);
  }
  return layout->Put(root, parsed);
}

std::string BlobPath(const std::string& layout_dir, const oci::Digest& d) {
  return layout_dir + "/blobs/" + std::string(d.algorithm()) + "/" + std::string(d.encoded());
}

void FlipByte(const std::string& path) {
  std::string data = ReadTestFile(path);
  ASSERT_FALSE(data.empty()) << path;
  data[data.size() / 2] ^= 0x5a;
  // Rewrite in place (blobs may be read-only files).
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  WriteTestFile(path, data);
}

void TruncateFile(const std::string& path, int64_t size) {
  ASSERT_EQ(truncate(path.c_str(), size), 0) << path;
}

int RunShell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

Result<std::unique_ptr<content::BlobWriter>> ReadOnlyTestStore::Writer(const std::string&) {
  return MakeError(Code::kPermissionDenied, "test store: read only");
}
Status ReadOnlyTestStore::Delete(const oci::Digest&) {
  return MakeError(Code::kPermissionDenied, "test store: read only");
}
Status ReadOnlyTestStore::Walk(const std::function<Status(const content::BlobInfo&)>&) {
  return MakeError(Code::kPermissionDenied, "test store: read only");
}

}  // namespace hoist::session::testing
