// Exec (JSON) form against BuildKit's json_test.go tables (derived/parser_json_test.tables.json)
// and Go's json.Unmarshal corners.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frontend/dockerfile/internal/parser_line_parsers.h"
#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile {
namespace {

using nlohmann::json;

const json& Tables() {
  static const json tables = [] {
    std::ifstream in(std::filesystem::path(HOIST_CORPORA_DIR) /
                     "moby-buildkit/derived/parser_json_test.tables.json");
    json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
    json by_var = json::object();
    if (doc.is_object() && doc.contains("tables")) {
      for (const json& t : doc["tables"]) by_var[t["var"].get<std::string>()] = t["value"];
    }
    return by_var;
  }();
  return tables;
}

// CMD takes the exec form through the same path as RUN, ENTRYPOINT and SHELL.
Result<Node> ParseCmd(const std::string& array) {
  return internal::NewNodeFromLine("CMD " + array, '\\', {});
}

struct ValidCase {
  std::string input;
  std::vector<std::string> expected;
};

std::vector<ValidCase> ValidCases() {
  std::vector<ValidCase> cases;
  if (!Tables().contains("validJSONArraysOfStrings")) return cases;
  for (const auto& [input, expected] : Tables()["validJSONArraysOfStrings"].items()) {
    ValidCase c{input, {}};
    // `[]` was transcribed as an empty object (Go's nil slice).
    if (expected.is_array()) c.expected = expected.get<std::vector<std::string>>();
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<std::string> InvalidCases() {
  if (!Tables().contains("invalidJSONArraysOfStrings")) return {};
  return Tables()["invalidJSONArraysOfStrings"].get<std::vector<std::string>>();
}

TEST(ParserJsonTables, Loaded) {
  EXPECT_EQ(ValidCases().size(), 8u);
  EXPECT_EQ(InvalidCases().size(), 8u);
}

class ValidJsonArrayTest : public testing::TestWithParam<ValidCase> {};

TEST_P(ValidJsonArrayTest, ParsesToStrings) {
  auto node = ParseCmd(GetParam().input);
  ASSERT_TRUE(node) << node.error().message();
  EXPECT_TRUE(node->json);
  std::vector<std::string> values;
  for (const Node& arg : node->next) values.push_back(arg.value);
  EXPECT_EQ(values, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(Derived, ValidJsonArrayTest, testing::ValuesIn(ValidCases()));

class InvalidJsonArrayTest : public testing::TestWithParam<std::string> {};

TEST_P(InvalidJsonArrayTest, IsNotAStringArray) {
  auto node = ParseCmd(GetParam());
  ASSERT_FALSE(node);
  EXPECT_EQ(node.error().message(),
            "when using JSON array syntax, arrays must be comprised of strings only");
}

INSTANTIATE_TEST_SUITE_P(Derived, InvalidJsonArrayTest, testing::ValuesIn(InvalidCases()));

std::string DumpOf(std::string_view dockerfile) {
  auto parsed = Parse(dockerfile);
  if (!parsed) return "error: " + parsed.error().message();
  return Dump(parsed->root);
}

TEST(ParserJson, MalformedJsonFallsBackToShellForm) {
  EXPECT_EQ(DumpOf("CMD [\"a\", \"b\""), "(cmd \"[\\\"a\\\", \\\"b\\\"\")");
  EXPECT_EQ(DumpOf("CMD ['a']"), "(cmd \"['a']\")");
  EXPECT_EQ(DumpOf("CMD [\"a\"] x"), "(cmd \"[\\\"a\\\"] x\")");
  EXPECT_EQ(DumpOf("COPY [\"a\" /b"), "(copy \"[\\\"a\\\"\" \"/b\")");
}

TEST(ParserJson, NumberBeyondFloat64FallsBackToShellForm) {
  // Go's decoder fails on the overflow before the parser sees a non-string.
  EXPECT_EQ(DumpOf("CMD [\"a\", 1e999]"), "(cmd \"[\\\"a\\\", 1e999]\")");
  EXPECT_EQ(DumpOf("CMD [\"a\", 1e-999]"),
            "error: Dockerfile:1: when using JSON array syntax, arrays must be comprised of "
            "strings only");
}

TEST(ParserJson, GoStringDecoding) {
  // A lone surrogate and an invalid UTF-8 byte both become U+FFFD; a pair is combined.
  EXPECT_EQ(DumpOf("CMD [\"\\ud800x\", \"\\ud83d\\ude00\", \"\xff\"]"),
            "(cmd \"\xEF\xBF\xBDx\" \"\xF0\x9F\x98\x80\" \"\xEF\xBF\xBD\")");
  // Raw control characters are not JSON.
  EXPECT_EQ(DumpOf("CMD [\"a\tb\"]"), "(cmd \"[\\\"a\\tb\\\"]\")");
}

TEST(ParserJson, EmptyArrayIsExecForm) {
  auto parsed = Parse("ENTRYPOINT []\n");
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->root.children[0].json);
  EXPECT_TRUE(parsed->root.children[0].next.empty());
}

TEST(ParserJson, NestedArrayIsAnError) {
  auto parsed = Parse("FROM a\nRUN [\"a\", [\"b\"]]\n");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message(),
            "Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings "
            "only");
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
