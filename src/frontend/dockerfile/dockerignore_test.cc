#include "frontend/dockerfile/dockerignore.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/testing/corpus.h"

namespace hoist::frontend::dockerfile {
namespace {

using nlohmann::json;

std::vector<std::string> StringList(const json& j) {
  std::vector<std::string> out;
  for (const auto& s : j) out.push_back(s.get<std::string>());
  return out;
}

TEST(DockerignoreTest, ReadAllAsUpstream) {
  const json& doc = ::hoist::LoadCorpusJson("moby-patternmatcher/derived/ignorefile_test.tables.json");
  ASSERT_TRUE(doc.is_object()) << "ignorefile_test.tables.json missing";
  EXPECT_EQ(ReadDockerignore(doc["input_dockerignore"].get<std::string>()),
            StringList(doc["tables"][0]["value"]));
}

// --- our own cases ----------------------------------------------------------------------

TEST(DockerignoreTest, BomCrlfAndCleaning) {
  EXPECT_EQ(ReadDockerignore("\xEF\xBB\xBF# c\r\n./a//b/../c/\r\n  !  /x/./y \r\n\r\n/\n"),
            (std::vector<std::string>{"a/c", "!x/y", "/"}));
  // Trimmed like Go's strings.TrimSpace, non-breaking spaces included.
  EXPECT_EQ(ReadDockerignore("\xC2\xA0"
                             "docs\xE2\x80\x83\n"),
            (std::vector<std::string>{"docs"}));
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
