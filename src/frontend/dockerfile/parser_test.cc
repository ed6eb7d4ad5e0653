// The parser against BuildKit's own corpora: every testfiles/<case>/Dockerfile must dump to
// its `result`, every testfiles-negative case must fail, and testfile-line pins line numbers.
#include "frontend/dockerfile/parser.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hoist::frontend::dockerfile {
namespace {

namespace fs = std::filesystem;

const fs::path kParserCorpus =
    fs::path(HOIST_CORPORA_DIR) / "moby-buildkit/frontend/dockerfile/parser";

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string CrlfToLf(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    out.push_back(s[i]);
  }
  return out;
}

std::vector<std::string> CaseDirs(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kParserCorpus / dir)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string TestName(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& c : name) {
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

class ParserCorpusTest : public testing::TestWithParam<std::string> {};

TEST_P(ParserCorpusTest, DumpMatchesResult) {
  const fs::path dir = kParserCorpus / "testfiles" / GetParam();
  auto parsed = Parse(ReadFile(dir / "Dockerfile"));
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(CrlfToLf(ReadFile(dir / "result")), Dump(parsed->root) + "\n");
}

INSTANTIATE_TEST_SUITE_P(Testfiles, ParserCorpusTest, testing::ValuesIn(CaseDirs("testfiles")),
                         TestName);

class ParserNegativeCorpusTest : public testing::TestWithParam<std::string> {};

TEST_P(ParserNegativeCorpusTest, Fails) {
  auto parsed = Parse(ReadFile(kParserCorpus / "testfiles-negative" / GetParam() / "Dockerfile"));
  EXPECT_FALSE(parsed);
}

INSTANTIATE_TEST_SUITE_P(TestfilesNegative, ParserNegativeCorpusTest,
                         testing::ValuesIn(CaseDirs("testfiles-negative")), TestName);

TEST(ParserCorpusCount, AllCasesPresent) {
  EXPECT_EQ(CaseDirs("testfiles").size(), 33u);
  EXPECT_EQ(CaseDirs("testfiles-negative").size(), 4u);
}

TEST(ParserLineNumbers, TestfileLine) {
  auto parsed = Parse(ReadFile(kParserCorpus / "testfile-line/Dockerfile"));
  ASSERT_TRUE(parsed) << parsed.error().message();
  const Node& root = parsed->root;
  EXPECT_EQ(root.start_line, 5);
  EXPECT_EQ(root.end_line, 31);
  ASSERT_EQ(root.children.size(), 3u);
  const std::pair<int, int> expected[] = {{5, 5}, {11, 12}, {17, 31}};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(root.children[i].start_line, expected[i].first) << "child " << i;
    EXPECT_EQ(root.children[i].end_line, expected[i].second) << "child " << i;
  }
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
