// Runs every document of the image-spec schema fixtures through the matching codec: valid ones
// must parse and reserialise stably, invalid ones must be refused.
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/testing/corpus.h"
#include "base/testing/test_files.h"
#include "oci/descriptor.h"
#include "oci/digest.h"
#include "oci/image_config.h"
#include "oci/image_layout.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::oci {
namespace {

using nlohmann::json;

// Relative to the corpora directory.
const std::string kFixtureDir = "opencontainers-image-spec/schema-test-fixtures/";

struct Fixture {
  std::string file;
  std::string schema;
  bool expect_valid = false;
  std::string digest;  // compat documents: sha256 of the file
};

std::vector<Fixture> LoadFixtures() {
  std::vector<Fixture> out;
  for (const char* list : {"index.json", "spec-examples/index.json"}) {
    json doc = LoadCorpusJson(kFixtureDir + list);
    if (doc.is_discarded()) continue;
    for (const json& c : doc["cases"]) {
      out.push_back({c.value("file", ""), c.value("schema_media_type", ""),
                     c.value("expect_valid", false), c.value("digest", "")});
    }
  }
  return out;
}

std::map<std::string, std::string> LoadCompatMap() {
  std::map<std::string, std::string> out;
  json doc = LoadCorpusJson(kFixtureDir + "index.json");
  if (doc.is_discarded()) return out;
  for (auto& [k, v] : doc["compat_media_type_map"].items()) out[k] = v.get<std::string>();
  return out;
}

// Parses with the codec for `schema`; on success returns serialise(parse(serialise(x))) ==
// serialise(x) in *stable.
Status ParseAs(const std::string& schema, const std::string& text, bool* stable) {
  auto check = [&](auto parse, auto serialize) -> Status {
    auto first = parse(text);
    if (!first) return Unexpected(first.error());
    std::string once = serialize(*first);
    auto second = parse(once);
    if (!second) return Unexpected(second.error());
    *stable = serialize(*second) == once && *second == *first;
    return OkStatus();
  };
  if (schema == kMediaTypeDescriptor) return check(ParseDescriptor, SerializeDescriptor);
  if (schema == kMediaTypeImageManifest) {
    auto strict = [](std::string_view t) -> Result<Manifest> {
      HOIST_ASSIGN_OR_RETURN(Manifest m, ParseManifest(t));
      HOIST_TRY(CheckManifestSchema(m));
      return m;
    };
    return check(strict, SerializeManifest);
  }
  if (schema == kMediaTypeImageIndex) return check(ParseIndex, SerializeIndex);
  if (schema == kMediaTypeImageConfig) return check(ParseImageConfig, SerializeImageConfig);
  if (schema == kMediaTypeImageLayoutHeader) return check(ParseImageLayout, SerializeImageLayout);
  return MakeError(Code::kUnimplemented, "no codec for " + schema);
}

TEST(SchemaFixtureList, Complete) { EXPECT_EQ(LoadFixtures().size(), 81u); }

class SchemaFixture : public testing::TestWithParam<Fixture> {};

TEST_P(SchemaFixture, CodecAgreesWithSchema) {
  const Fixture& f = GetParam();
  std::string text = ReadTestFile(CorpusPath(kFixtureDir + f.file));
  ASSERT_FALSE(text.empty()) << f.file;
  bool stable = false;
  Status s = ParseAs(f.schema, text, &stable);
  if (f.expect_valid) {
    ASSERT_TRUE(s.has_value()) << f.file << ": " << s.error().message();
    EXPECT_TRUE(stable) << f.file;
  } else {
    ASSERT_FALSE(s.has_value()) << f.file << " was accepted";
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument) << s.error().message();
  }
  if (!f.digest.empty()) {
    EXPECT_EQ(Digest::Sha256Of(text).str(), f.digest) << f.file;
  }
}

// Upstream checks the Docker documents after replacing Docker media types by OCI ones; hoist
// reads both spellings, so check both.
std::vector<Fixture> LoadCompatFixtures() {
  std::vector<Fixture> out;
  for (Fixture& f : LoadFixtures()) {
    if (f.file.rfind("compat-", 0) == 0) out.push_back(std::move(f));
  }
  return out;
}

class CompatFixture : public testing::TestWithParam<Fixture> {};

TEST(SchemaFixtureList, CompatPresent) { EXPECT_EQ(LoadCompatFixtures().size(), 4u); }

TEST_P(CompatFixture, AlsoParsesWithOciMediaTypes) {
  const Fixture& f = GetParam();
  std::string text = ReadTestFile(CorpusPath(kFixtureDir + f.file));
  for (const auto& [docker, oci] : LoadCompatMap()) {
    for (size_t pos = text.find(docker); pos != std::string::npos; pos = text.find(docker, pos)) {
      text.replace(pos, docker.size(), oci);
      pos += oci.size();
    }
  }
  bool stable = false;
  Status s = ParseAs(f.schema, text, &stable);
  ASSERT_TRUE(s.has_value()) << f.file << ": " << s.error().message();
  EXPECT_TRUE(stable);
}

std::string FixtureName(const testing::TestParamInfo<Fixture>& info) {
  std::string name;
  for (char c : info.param.file) {
    name += (std::isalnum(static_cast<unsigned char>(c)) != 0) ? c : '_';
  }
  return name.substr(0, 60) + "_" + std::to_string(info.index);
}

INSTANTIATE_TEST_SUITE_P(ImageSpec, SchemaFixture, testing::ValuesIn(LoadFixtures()), FixtureName);
INSTANTIATE_TEST_SUITE_P(ImageSpec, CompatFixture, testing::ValuesIn(LoadCompatFixtures()),
                         FixtureName);

}  // namespace
}  // namespace hoist::oci
