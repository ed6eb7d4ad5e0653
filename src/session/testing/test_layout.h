// Test fixtures: small OCI images written into layouts on disk, for the session, source and
// client tests. Test code only (compiled into the unit test binary).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/error.h"
#include "content/content_store.h"
#include "content/oci_layout.h"
#include "oci/descriptor.h"
#include "oci/platform.h"

namespace hoist::session::testing {

struct TestImage {
  oci::Descriptor manifest;  // media type, digest, size
  oci::Descriptor config;
  std::vector<oci::Descriptor> layers;  // uncompressed: diff ID == digest
  std::vector<std::string> layer_bytes;
  std::string config_json;
};

oci::Platform MakePlatform(const std::string& os, const std::string& arch,
                           const std::string& variant = "");

// Writes config, layers (`layer_bytes` verbatim, as uncompressed tar layers) and a manifest into
// `store`; the config carries `env` and the platform.
Result<TestImage> WriteTestImage(content::ContentStore& store,
                                 const std::vector<std::string>& layer_bytes,
                                 const oci::Platform& platform,
                                 const std::vector<std::string>& env = {"A=1"});
// Writes an index of the images, each entry carrying its platform.
Result<oci::Descriptor> WriteTestIndex(content::ContentStore& store,
                                       const std::vector<TestImage>& images,
                                       const std::vector<oci::Platform>& platforms);

// Creates the layout directory `dir` and puts `root` in its index under `names` (LayoutName
// syntax: `org/app:1.0` or a bare tag; none: `latest`).
Status CreateLayoutWith(const std::string& dir,
                        const std::function<Result<oci::Descriptor>(content::ContentStore&)>& fill,
                        const std::vector<std::string>& names = {});

// A store of a test's own that only serves Info and ReaderAt: Writer, Delete and Walk fail.
class ReadOnlyTestStore : public content::ContentStore {
 public:
  Result<std::unique_ptr<content::BlobWriter>> Writer(const std::string& ref) override;
  Status Delete(const oci::Digest& digest) override;
  Status Walk(const std::function<Status(const content::BlobInfo&)>& fn) override;
};

// The path of a blob in a layout directory.
std::string BlobPath(const std::string& layout_dir, const oci::Digest& d);
// Flips one byte in the middle of a file; truncates a file to `size`.
void FlipByte(const std::string& path);
void TruncateFile(const std::string& path, int64_t size);
// Runs a shell command, returns its exit status.
int RunShell(const std::string& cmd);

}  // namespace hoist::session::testing
