// Parser directives against the transcription of BuildKit's directives_test.go
// (derived/parser_directives.handwritten.json), plus the rules the parser applies to them.
#include "frontend/dockerfile/directives.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile {
namespace {

using nlohmann::json;

const json& Table() {
  static const json table = [] {
    std::ifstream in(std::filesystem::path(HOIST_CORPORA_DIR) /
                     "moby-buildkit/derived/parser_directives.handwritten.json");
    return json::parse(in, nullptr, /*allow_exceptions=*/false);
  }();
  return table;
}

std::vector<json> Cases(const char* key) {
  const json& table = Table();
  if (!table.is_object() || !table.contains(key)) return {};
  return table[key].get<std::vector<json>>();
}

std::string Input(const json& c) {
  std::string prefix;
  if (c.contains("input_hex_prefix")) {
    std::string hex = c["input_hex_prefix"].get<std::string>();
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      prefix.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
  }
  return prefix + c["input"].get<std::string>();
}

TEST(DirectivesTable, Loaded) {
  ASSERT_TRUE(Table().is_object());
  EXPECT_EQ(Cases("DirectiveParser.ParseAll").size(), 2u);
  EXPECT_EQ(Cases("DetectSyntax").size(), 10u);
  EXPECT_EQ(Cases("ParseDirective(\"check\")").size(), 5u);
}

class ParseAllTest : public testing::TestWithParam<json> {};

TEST_P(ParseAllTest, Matches) {
  const json& c = GetParam();
  DirectiveParser parser;
  auto directives = parser.ParseAll(Input(c));
  ASSERT_TRUE(directives) << directives.error().message();
  const json& expect = c["expect"];
  ASSERT_EQ(directives->size(), expect.size());
  for (size_t i = 0; i < expect.size(); ++i) {
    EXPECT_EQ((*directives)[i].name, expect[i]["name"].get<std::string>());
    EXPECT_EQ((*directives)[i].value, expect[i]["value"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Derived, ParseAllTest,
                         testing::ValuesIn(Cases("DirectiveParser.ParseAll")));

void CheckDetected(const json& c, const std::optional<DetectedDirective>& got) {
  ASSERT_EQ(got.has_value(), c["ok"].get<bool>());
  if (!got) return;  // BuildKit returns empty strings then, which `ref`/`cmdline` state
  if (c.contains("ref")) {
    EXPECT_EQ(got->ref, c["ref"].get<std::string>());
  }
  if (c.contains("cmdline")) {
    EXPECT_EQ(got->cmdline, c["cmdline"].get<std::string>());
  }
  if (c.contains("line")) {
    EXPECT_EQ(got->line, c["line"].get<int>());
  }
}

class DetectSyntaxTest : public testing::TestWithParam<json> {};

TEST_P(DetectSyntaxTest, Matches) { CheckDetected(GetParam(), DetectSyntax(Input(GetParam()))); }

INSTANTIATE_TEST_SUITE_P(Derived, DetectSyntaxTest, testing::ValuesIn(Cases("DetectSyntax")));

class ParseCheckDirectiveTest : public testing::TestWithParam<json> {};

TEST_P(ParseCheckDirectiveTest, Matches) {
  CheckDetected(GetParam(), ParseDirective("check", Input(GetParam())));
}

INSTANTIATE_TEST_SUITE_P(Derived, ParseCheckDirectiveTest,
                         testing::ValuesIn(Cases("ParseDirective(\"check\")")));

TEST(DirectiveParser, RepeatedKeyIsAnError) {
  DirectiveParser parser;
  ASSERT_TRUE(parser.ParseLine("# syntax=a"));
  auto again = parser.ParseLine("# SYNTAX=b");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message(), "only one syntax parser directive can be used");
}

TEST(DirectiveParser, UnknownKeyEndsTheBlock) {
  DirectiveParser parser;
  auto unknown = parser.ParseLine("# key=value");
  ASSERT_TRUE(unknown);
  EXPECT_FALSE(*unknown);
  auto later = parser.ParseLine("# escape=`");
  ASSERT_TRUE(later);
  EXPECT_FALSE(*later);
  EXPECT_TRUE(parser.done());
}

TEST(DirectiveParser, ValueIsTrimmed) {
  DirectiveParser parser;
  auto d = parser.ParseLine("#   check \t=  skip=all  \t");
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->name, "check");
  EXPECT_EQ((*d)->value, "skip=all");
  EXPECT_EQ((*d)->line, 1);
}

TEST(DirectiveParser, AllSpaceValueMatchesItsLastCharacter) {
  // BuildKit's pattern `\s*=\s*(.+?)\s*$` backtracks to give the value one character.
  DirectiveParser parser;
  auto d = parser.ParseLine("# syntax= \t");
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->value, "\t");
  DirectiveParser empty;
  auto none = empty.ParseLine("# syntax=");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST(ParserDirectives, EscapeDirectiveChangesTheEscape) {
  auto parsed = Parse("# escape=`\nFROM a\nRUN echo \\\nRUN b `\n  c\n");
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->escape_token, '`');
  EXPECT_EQ(Dump(parsed->root), "(from \"a\")\n(run \"echo \\\\\")\n(run \"b   c\")");
}

TEST(ParserDirectives, DirectiveAfterContentIsAComment) {
  auto parsed = Parse("FROM a\n# escape=`\nRUN b \\\n c\n");
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(parsed->escape_token, '\\');
  EXPECT_EQ(Dump(parsed->root), "(from \"a\")\n(run \"b  c\")");
}

TEST(ParserDirectives, DirectiveAfterBlankLineIsAComment) {
  auto parsed = Parse("\n# escape=`\nFROM a\n");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->escape_token, '\\');
}

TEST(ParserDirectives, DirectivesAreNotComments) {
  auto parsed = Parse("# syntax=x\n# escape=\\\n# about a\nFROM a\n");
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->root.children.size(), 1u);
  EXPECT_EQ(parsed->root.children[0].prev_comment, std::vector<std::string>{"about a"});
}

TEST(ParserDirectives, InvalidEscapeToken) {
  auto parsed = Parse("# escape=x\nFROM a\n");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message(),
            "Dockerfile:1: invalid escape token 'x' does not match ` or \\");
}

TEST(ParserDirectives, RepeatedDirective) {
  auto parsed = Parse("# check=a\n#CHECK=b\nFROM a\n");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message(), "Dockerfile:2: only one check parser directive can be used");
}

TEST(ParserDirectives, ByteOrderMarkBeforeDirective) {
  auto parsed = Parse("\xEF\xBB\xBF# escape=`\nFROM a\n");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->escape_token, '`');
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
