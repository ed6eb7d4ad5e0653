// WriteLayerErofs against ApplyLayer(overlay) on layers written by others: every layer of every
// apply case of the layer-safety corpus, the layers of scripts/make-test-image (whiteouts,
// opaque directories, hardlinks, large files) and the busybox base image of
// scripts/make-base-image. Each image is checked by fsck.erofs, mounted and compared with the
// directory ApplyLayer writes; a layer ApplyLayer refuses must be refused with the same code.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "archive/byte_source.h"
#include "archive/testing/corpus_layer.h"
#include "archive/testing/erofs_oracle.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/corpus.h"
#include "base/testing/test_files.h"

namespace hoist::archive {
namespace {

using nlohmann::json;

constexpr int64_t kBuildTime = 1234567890;
const std::string kCorpusDir = std::string(HOIST_CORPORA_DIR) + "/layer-safety";

const json& Cases() { return testing::LayerSafetyApplyCases(); }

class ErofsCorpusTest : public ::testing::TestWithParam<size_t> {};

TEST_P(ErofsCorpusTest, LayersMatchApply) {
  const json& c = Cases().at(GetParam());
  SCOPED_TRACE(c.at("id").get<std::string>());
  auto tmp = TempDir::Create("hoist-erofs-corpus-");
  ASSERT_TRUE(tmp);
  int64_t clock_floor = std::time(nullptr);
  std::vector<std::string> tars;
  if (c.contains("tar_files")) {
    for (const json& t : c["tar_files"]) {
      tars.push_back(ReadTestFile(kCorpusDir + "/" + t.get<std::string>()));
    }
  } else {
    // Names outside the root are only names here: nothing is extracted beside the image.
    for (const json& layer : c.at("layers")) {
      tars.push_back(testing::CorpusLayerTar(layer, tmp->path() + "/sandbox"));
    }
  }
  // Each layer alone, as the image of one layer holds it.
  for (size_t i = 0; i < tars.size(); ++i) {
    testing::ExpectErofsMatchesApply(tars[i], tmp->path(), "layer" + std::to_string(i),
                                     {.clock_floor = clock_floor, .build_time = kBuildTime});
  }
}

std::vector<size_t> AllCases() {
  std::vector<size_t> out;
  for (size_t i = 0; i < Cases().size(); ++i) out.push_back(i);
  return out;
}

std::string CaseName(const ::testing::TestParamInfo<size_t>& info) {
  std::string name = Cases().at(info.param).at("id");
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name + "_" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(ErofsCorpus, ErofsCorpusTest, ::testing::ValuesIn(AllCases()), CaseName);

// The uncompressed layers of the first manifest of the OCI layout at `layout`.
std::vector<std::string> LayoutLayers(const std::string& layout) {
  auto blob = [&](const std::string& digest) {
    return ReadTestFile(layout + "/blobs/sha256/" + digest.substr(digest.find(':') + 1));
  };
  json index = json::parse(ReadTestFile(layout + "/index.json"));
  json manifest = json::parse(blob(index.at("manifests").at(0).at("digest")));
  std::vector<std::string> out;
  for (const json& layer : manifest.at("layers")) {
    std::string data = blob(layer.at("digest"));
    if (DetectCompression(std::string_view(data).substr(0, 16)) == Compression::kGzip) {
      StringByteSource compressed(std::move(data));
      auto gz = GzipByteSource::Create(&compressed);
      EXPECT_TRUE(gz);
      std::string plain;
      char buf[65536];
      for (;;) {
        auto n = (*gz)->Read(buf, sizeof(buf));
        EXPECT_TRUE(n);
        if (!n || *n == 0) break;
        plain.append(buf, *n);
      }
      data = std::move(plain);
    }
    out.push_back(std::move(data));
  }
  return out;
}

int Sh(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ErofsImageTest, TestImageLayersMatchApply) {
  auto tmp = TempDir::Create("hoist-erofs-image-");
  ASSERT_TRUE(tmp);
  int64_t clock_floor = std::time(nullptr);
  std::string layout = tmp->path() + "/layout";
  ASSERT_EQ(Sh(std::string(HOIST_SOURCE_DIR) + "/scripts/make-test-image " + layout +
               " --compression none --files 300 --size-mb 6 >/dev/null"),
            0);
  std::vector<std::string> layers = LayoutLayers(layout);
  ASSERT_EQ(layers.size(), 3u);
  for (size_t i = 0; i < layers.size(); ++i) {
    testing::ExpectErofsMatchesApply(layers[i], tmp->path(), "layer" + std::to_string(i),
                                     {.clock_floor = clock_floor, .build_time = kBuildTime});
  }
}

// The hoist binary beside this test binary, or $HOIST.
std::string HoistBinary() {
  if (const char* env = std::getenv("HOIST")) return env;
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string dir(self, static_cast<size_t>(n));
  return dir.substr(0, dir.rfind('/')) + "/hoist";
}

TEST(ErofsImageTest, BusyboxBaseImageMatchesApply) {
  std::string hoist = HoistBinary();
  if (hoist.empty() || ::access(hoist.c_str(), X_OK) != 0) {
    GTEST_SKIP() << "scripts/make-base-image needs the hoist binary (" << hoist
                 << " is missing; build it or set $HOIST)";
  }
  if (Sh("command -v busybox >/dev/null") != 0) {
    GTEST_SKIP() << "scripts/make-base-image needs busybox (apt-get install busybox-static)";
  }
  auto tmp = TempDir::Create("hoist-erofs-busybox-");
  ASSERT_TRUE(tmp);
  int64_t clock_floor = std::time(nullptr);
  std::string layout = tmp->path() + "/layout";
  ASSERT_EQ(Sh("HOIST=" + hoist + " " + std::string(HOIST_SOURCE_DIR) +
               "/scripts/make-base-image " + layout + " >/dev/null"),
            0);
  std::vector<std::string> layers = LayoutLayers(layout);
  ASSERT_EQ(layers.size(), 1u);
  testing::ExpectErofsMatchesApply(layers[0], tmp->path(), "busybox",
                                   {.clock_floor = clock_floor, .build_time = kBuildTime});
}

}  // namespace
}  // namespace hoist::archive
