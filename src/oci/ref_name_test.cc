// IsValidRefName against umoci's TestValidateRefname table
// (shared/corpora/opencontainers-umoci/derived/refname_test.tables.json).
#include "oci/ref_name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/testing/corpus.h"

namespace hoist::oci {
namespace {

using nlohmann::json;

std::vector<json> RefNameRows() {
  return CorpusTableRows("opencontainers-umoci/derived/refname_test.tables.json",
                         "TestValidateRefname");
}

class RefNameCorpus : public ::testing::TestWithParam<json> {};

TEST_P(RefNameCorpus, MatchesUmoci) {
  const std::string name = GetParam()[0];
  EXPECT_EQ(IsValidRefName(name), GetParam()[1].get<bool>()) << "\"" << name << "\"";
}

INSTANTIATE_TEST_SUITE_P(RefName, RefNameCorpus, ::testing::ValuesIn(RefNameRows()),
                         [](const ::testing::TestParamInfo<json>& info) {
                           return "row" + std::to_string(info.index);
                         });

TEST(RefNameCorpusSize, HasAllRows) { EXPECT_EQ(RefNameRows().size(), 22u); }

TEST(RefName, SeparatorRules) {
  EXPECT_TRUE(IsValidRefName("a--b"));
  EXPECT_FALSE(IsValidRefName("a---b"));  // `--` then `-b`: a separator after a separator
  EXPECT_FALSE(IsValidRefName("a-"));
  EXPECT_FALSE(IsValidRefName("a/"));
  EXPECT_FALSE(IsValidRefName("a b"));
  EXPECT_TRUE(IsValidRefName("1.36-musl"));
}

}  // namespace
}  // namespace hoist::oci
