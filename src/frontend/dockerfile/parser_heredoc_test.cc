// Heredocs against BuildKit's parser_heredoc_test.go (derived/parser_heredoc_test.tables.json
// and derived/parser_heredoc_extract), plus body reading details.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile {

// Found by GoogleTest through argument-dependent lookup.
void PrintTo(const Heredoc& h, std::ostream* os) {
  *os << "{name=" << testing::PrintToString(h.name) << " fd=" << h.file_descriptor
      << " expand=" << h.expand << " chomp=" << h.chomp
      << " content=" << testing::PrintToString(h.content) << "}";
}

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kDerived = fs::path(HOIST_CORPORA_DIR) / "moby-buildkit/derived";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

json ReadJson(const fs::path& path) {
  return json::parse(ReadFile(path), nullptr, /*allow_exceptions=*/false);
}

// The table of TestParseHeredocHelpers / TestHeredocsFromLine named `var`.
json Table(const std::string& var) {
  static const json doc = ReadJson(kDerived / "parser_heredoc_test.tables.json");
  if (!doc.is_object() || !doc.contains("tables")) return json::array();
  for (const json& t : doc["tables"]) {
    if (t["var"] == var) return t["value"];
  }
  return json::array();
}

Heredoc FromJson(const json& j) {
  Heredoc h;
  h.name = j.value("Name", "");
  h.content = j.value("Content", "");
  h.expand = j.value("Expand", false);
  h.chomp = j.value("Chomp", false);
  h.file_descriptor = j.value("FileDescriptor", 0u);
  return h;
}

// --- TestParseExtractsHeredoc: child i+1 of the stored Dockerfile has heredocs expected[i].

struct ExtractCase {
  size_t child;
  json expected;
};

const Result<ParseResult>& ExtractParsed() {
  static const Result<ParseResult> parsed =
      Parse(ReadFile(kDerived / "parser_heredoc_extract/Dockerfile"));
  return parsed;
}

std::vector<ExtractCase> ExtractCases() {
  json expected = ReadJson(kDerived / "parser_heredoc_extract/expected.json");
  std::vector<ExtractCase> cases;
  if (!expected.is_object()) return cases;
  for (size_t i = 0; i < expected["expected"].size(); ++i) {
    cases.push_back({i + 1, expected["expected"][i]});
  }
  return cases;
}

TEST(HeredocTables, Loaded) {
  EXPECT_EQ(ExtractCases().size(), 27u);
  EXPECT_EQ(Table("validHeredocs").size(), 9u);
  EXPECT_EQ(Table("invalidHeredocs").size(), 4u);
  EXPECT_EQ(Table("notHeredocs").size(), 7u);
  EXPECT_EQ(Table("srcs").size(), 10u);
}

TEST(HeredocTables, ExtractTableMatchesGoTable) {
  // The extract folder's expectations are the Go table of TestParseExtractsHeredoc.
  json expected = ReadJson(kDerived / "parser_heredoc_extract/expected.json");
  EXPECT_EQ(expected["expected"], Table("tests"));
}

class HeredocExtractTest : public testing::TestWithParam<ExtractCase> {};

TEST_P(HeredocExtractTest, ChildHeredocs) {
  const auto& parsed = ExtractParsed();
  ASSERT_TRUE(parsed) << parsed.error().message();
  const auto& children = parsed->root.children;
  ASSERT_LT(GetParam().child, children.size());
  std::vector<Heredoc> expected;
  if (GetParam().expected.is_array()) {
    for (const json& h : GetParam().expected) expected.push_back(FromJson(h));
  }
  EXPECT_EQ(children[GetParam().child].heredocs, expected) << children[GetParam().child].original;
}

INSTANTIATE_TEST_SUITE_P(Derived, HeredocExtractTest, testing::ValuesIn(ExtractCases()));

TEST(HeredocExtract, JsonFormHasNoHeredocs) {
  json expected = ReadJson(kDerived / "parser_heredoc_extract/expected.json-form.json");
  auto parsed = Parse(ReadFile(kDerived / "parser_heredoc_extract/Dockerfile.json-form"));
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_TRUE(expected.is_object());
  for (const json& i : expected["expected_no_heredocs_children"]) {
    size_t child = i.get<size_t>();
    ASSERT_LT(child, parsed->root.children.size());
    EXPECT_TRUE(parsed->root.children[child].heredocs.empty()) << child;
    EXPECT_TRUE(parsed->root.children[child].json) << child;
  }
}

// --- TestParseHeredocHelpers.

class ValidHeredocTest : public testing::TestWithParam<std::string> {};
TEST_P(ValidHeredocTest, NamedEof) {
  auto heredoc = ParseHeredoc(GetParam());
  ASSERT_TRUE(heredoc) << heredoc.error().message();
  ASSERT_TRUE(*heredoc);
  EXPECT_EQ((*heredoc)->name, "EOF");
}
INSTANTIATE_TEST_SUITE_P(Derived, ValidHeredocTest,
                         testing::ValuesIn(Table("validHeredocs").get<std::vector<std::string>>()));

class InvalidHeredocTest : public testing::TestWithParam<std::string> {};
TEST_P(InvalidHeredocTest, Fails) { EXPECT_FALSE(ParseHeredoc(GetParam())); }
INSTANTIATE_TEST_SUITE_P(
    Derived, InvalidHeredocTest,
    testing::ValuesIn(Table("invalidHeredocs").get<std::vector<std::string>>()));

class NotHeredocTest : public testing::TestWithParam<std::string> {};
TEST_P(NotHeredocTest, IsNone) {
  auto heredoc = ParseHeredoc(GetParam());
  ASSERT_TRUE(heredoc) << heredoc.error().message();
  EXPECT_FALSE(*heredoc);
}
INSTANTIATE_TEST_SUITE_P(Derived, NotHeredocTest,
                         testing::ValuesIn(Table("notHeredocs").get<std::vector<std::string>>()));

// --- TestHeredocsFromLine.

class HeredocsFromLineTest : public testing::TestWithParam<json> {};
// Upstream asserts that the i-th heredoc found is named heredocNames[i] for each one found; it
// does not assert how many are found. That is the check here, so that a vector is held to what
// upstream verifies: "RUN <<- EOF" lists "EOF" but opens none (the lexer ends the word "<<-" at
// the space; see HeredocsFromLine.SpaceAfterChompDash).
TEST_P(HeredocsFromLineTest, Names) {
  auto heredocs = HeredocsFromLine(GetParam()["line"].get<std::string>());
  ASSERT_TRUE(heredocs) << heredocs.error().message();
  std::vector<std::string> expected;
  if (GetParam()["heredocNames"].is_array()) {
    expected = GetParam()["heredocNames"].get<std::vector<std::string>>();
  }
  ASSERT_LE(heredocs->size(), expected.size());
  for (size_t i = 0; i < heredocs->size(); ++i) EXPECT_EQ((*heredocs)[i].name, expected[i]);
}

TEST(HeredocsFromLine, ExactNames) {
  auto names = [](std::string_view line) {
    std::vector<std::string> out;
    auto heredocs = HeredocsFromLine(line);
    if (heredocs) {
      for (const Heredoc& h : *heredocs) out.push_back(h.name);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("RUN <<EOF"), V{"EOF"});
  EXPECT_EQ(names("RUN << -EOF"), V{"-EOF"});
  EXPECT_EQ(names("RUN 4<<EOF"), V{"EOF"});
  EXPECT_EQ(names("RUN <<EOF <<EOF2"), (V{"EOF", "EOF2"}));
  EXPECT_EQ(names("RUN '<<EOF'"), V{});
  EXPECT_EQ(names("RUN \"<<EOF\""), V{});
}

TEST(HeredocsFromLine, SpaceAfterChompDash) {
  // "<<" swallows the spaces right after it, not after "<<-": the words are "<<-" and "EOF",
  // and "<<-" alone names nothing.
  auto heredocs = HeredocsFromLine("RUN <<- EOF");
  ASSERT_TRUE(heredocs);
  EXPECT_TRUE(heredocs->empty());
}
INSTANTIATE_TEST_SUITE_P(Derived, HeredocsFromLineTest,
                         testing::ValuesIn(Table("srcs").get<std::vector<json>>()));

// --- Details beyond the upstream tables.

TEST(Heredoc, ChompContent) {
  EXPECT_EQ(ChompHeredocContent("\thello\n\tworld\n"), "hello\nworld\n");
  EXPECT_EQ(ChompHeredocContent("\t\ta\tb\n\n\tc"), "a\tb\n\nc");
}

TEST(Heredoc, FileDescriptorAndChomp) {
  auto heredoc = ParseHeredoc("12<<-'X Y'");
  ASSERT_TRUE(heredoc && *heredoc);
  EXPECT_EQ((*heredoc)->file_descriptor, 12u);
  EXPECT_TRUE((*heredoc)->chomp);
  EXPECT_FALSE((*heredoc)->expand);
  EXPECT_EQ((*heredoc)->name, "X Y");
}

TEST(Heredoc, BrokenSubstitutionInNameIsAnError) {
  auto missing = ParseHeredoc("<<${a:-x");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "failed to process \"${a:-x\": syntax error: missing '}'");
  // At the end of input BuildKit's lexer reads EOF as the modifier, printed as U+FFFD.
  auto cut = ParseHeredoc("<<${a");
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().message(),
            "failed to process \"${a\": unsupported modifier (\uFFFD) in substitution");
}

TEST(Heredoc, NestedSubstitutionDropsTheWordSoFar) {
  // BuildKit's lexer shares one word buffer with the nested scan of `${a:-...}`, which clears
  // it: the `<<` before it is lost and the line opens no heredoc.
  auto parsed = Parse("RUN <<${a:-x y}\n");
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_TRUE(parsed->root.children[0].heredocs.empty());
}

TEST(Heredoc, UnterminatedQuoteInLineOpensNothing) {
  // BuildKit ignores a line that does not lex; the word is never tried as a heredoc.
  auto heredocs = HeredocsFromLine("RUN <<'EOF");
  ASSERT_TRUE(heredocs);
  EXPECT_TRUE(heredocs->empty());
}

TEST(Heredoc, BodyKeepsLineEndingsAndLineNumbers) {
  auto parsed = Parse("FROM a\r\nRUN <<EOF cat\r\nx\r\n  EOF\r\nEOF\r\nRUN b\n");
  ASSERT_TRUE(parsed) << parsed.error().message();
  const auto& run = parsed->root.children[1];
  ASSERT_EQ(run.heredocs.size(), 1u);
  EXPECT_EQ(run.heredocs[0].content, "x\r\n  EOF\r\n");
  EXPECT_EQ(run.start_line, 2);
  EXPECT_EQ(run.end_line, 5);
  EXPECT_EQ(parsed->root.children[2].start_line, 6);
  EXPECT_EQ(Dump(parsed->root), "(from \"a\")\n(run \"<<EOF cat\")\n(run \"b\")");
}

TEST(Heredoc, OnbuildRunCarriesHeredoc) {
  auto parsed = Parse("ONBUILD RUN <<EOF\necho\nEOF\n");
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->root.children[0].heredocs.size(), 1u);
  EXPECT_EQ(parsed->root.children[0].heredocs[0].content, "echo\n");
}

TEST(Heredoc, NotForOtherInstructions) {
  auto parsed = Parse("FROM a\nUSER <<EOF\nEOF\n");
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->root.children.size(), 3u);
  EXPECT_TRUE(parsed->root.children[1].heredocs.empty());
}

TEST(Heredoc, SeveralInOrder) {
  auto parsed = Parse("COPY <<A 3<<-B /dst\na\nA\n\tb\n\tB\n");
  ASSERT_TRUE(parsed) << parsed.error().message();
  const auto& heredocs = parsed->root.children[0].heredocs;
  ASSERT_EQ(heredocs.size(), 2u);
  EXPECT_EQ(heredocs[0].content, "a\n");
  EXPECT_EQ(heredocs[1].content, "\tb\n");
  EXPECT_EQ(heredocs[1].file_descriptor, 3u);
  EXPECT_EQ(parsed->root.children[0].end_line, 5);
}

TEST(Heredoc, Unterminated) {
  auto parsed = Parse("FROM a\nRUN <<EOF\nls\n");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().message(), "Dockerfile:2: unterminated heredoc");
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
