// .dockerignore reading and matching against moby/patternmatcher's test tables (transcribed
// to JSON from patternmatcher_test.go and ignorefile_test.go @ 5a6d8429).
#include "base/pattern_matcher.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/internal/ignore_pattern.h"

namespace hoist {
namespace {

using nlohmann::json;

const std::string kDerivedDir = std::string(HOIST_CORPORA_DIR) + "/moby-patternmatcher/derived/";

json LoadJson(const std::string& name) {
  std::ifstream in(kDerivedDir + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
}

const json& MatcherTables() {
  static const json tables = LoadJson("patternmatcher_test.tables.json");
  return tables;
}

std::vector<std::string> StringList(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const json& s : j) out.push_back(s.get<std::string>());
  }
  return out;
}

struct Case {
  std::string name;
  std::string kind;
  json data;
};

// Every table row becomes one case; `kind` says which upstream test it belongs to.
std::vector<Case> LoadCases() {
  std::vector<Case> cases;
  const json& doc = MatcherTables();
  if (!doc.is_object()) return {{"missing", "missing", json()}};
  for (const json& table : doc["tables"]) {
    const std::string func = table["func"];
    const std::string var = table.value("var", "");
    const json& value = table["value"];
    std::string kind = func;
    if (func == "TestMatches") kind = var.empty() ? "unix_tests" : var;
    if (func == "(var)") kind = var;
    if (kind == "tests" || kind == "unix_tests" || kind == "multiPatternTests" ||
        kind == "matchTests" || kind == "compileTests") {
      for (size_t i = 0; i < value.size(); ++i) {
        cases.push_back({kind + "_" + std::to_string(i), kind, value[i]});
      }
    } else {
      cases.push_back({func, kind, value});
    }
  }
  return cases;
}

// Upstream's MatchesUsingParentResults check: walk the parents first, then the file.
Result<bool> MatchByWalking(const PatternMatcher& pm, const std::string& text) {
  const std::string parent = internal::DirPath(text);
  PatternMatcher::MatchInfo info;
  if (parent != ".") {
    size_t from = 0;
    while (true) {
      const size_t slash = parent.find('/', from);
      PatternMatcher::MatchInfo next;
      HOIST_TRY(pm.MatchesUsingParentResults(parent.substr(0, slash), info, &next));
      info = std::move(next);
      if (slash == std::string::npos) break;
      from = slash + 1;
    }
  }
  PatternMatcher::MatchInfo unused;
  return pm.MatchesUsingParentResults(text, info, &unused);
}

class PatternMatcherTest : public testing::TestWithParam<Case> {};

TEST_P(PatternMatcherTest, AsUpstream) {
  const Case& c = GetParam();
  const json& d = c.data;
  ASSERT_NE(c.kind, "missing") << "patternmatcher_test.tables.json missing";

  if (c.kind == "tests" || c.kind == "unix_tests" || c.kind == "multiPatternTests") {
    // [pattern or patterns, text, pass], checked the three ways TestMatches does.
    const std::vector<std::string> patterns =
        d[0].is_array() ? StringList(d[0]) : std::vector<std::string>{d[0].get<std::string>()};
    const std::string text = d[1];
    const bool pass = d[2];
    Result<PatternMatcher> pm = PatternMatcher::Create(patterns);
    ASSERT_TRUE(pm.has_value()) << pm.error().message();
    Result<bool> direct = pm->MatchesOrParentMatches(text);
    ASSERT_TRUE(direct.has_value());
    EXPECT_EQ(*direct, pass) << "MatchesOrParentMatches " << d.dump();
    Result<bool> walked = MatchByWalking(*pm, text);
    ASSERT_TRUE(walked.has_value());
    EXPECT_EQ(*walked, pass) << "MatchesUsingParentResults " << d.dump();
    PatternMatcher::MatchInfo info;
    Result<bool> no_context = pm->MatchesUsingParentResults(text, {}, &info);
    ASSERT_TRUE(no_context.has_value());
    EXPECT_EQ(*no_context, pass) << "MatchesUsingParentResults without context " << d.dump();
    return;
  }

  if (c.kind == "matchTests") {
    // [pattern, s, match, err]: Go's filepath.Match cases through the one-shot matcher.
    Result<bool> got = MatchesOrParentMatches(d[1].get<std::string>(), {d[0].get<std::string>()});
    if (!d[3].is_null()) {
      ASSERT_FALSE(got.has_value()) << d.dump();
      EXPECT_EQ(got.error().message(), "syntax error in pattern");
    } else {
      ASSERT_TRUE(got.has_value()) << d.dump() << ": " << got.error().message();
      EXPECT_EQ(*got, d[2].get<bool>()) << d.dump();
    }
    return;
  }

  if (c.kind == "compileTests") {
    // [pattern, matchType, regexp (unix), regexp (windows)]
    const internal::IgnorePattern p =
        internal::IgnorePattern::Compile(internal::CleanPath(d[0].get<std::string>()));
    const std::string want = d[1]["$ident"];
    const char* names[] = {"exactMatch", "prefixMatch", "suffixMatch", "regexpMatch"};
    EXPECT_EQ(names[static_cast<int>(p.type())], want) << d[0];
    if (want == "regexpMatch") {
      EXPECT_EQ(p.regex(), d[2].get<std::string>()) << d[0];
    }
    return;
  }

  // The single-case tests; their file and expectation live in the Go code.
  const std::vector<std::string> patterns = StringList(d);
  Result<PatternMatcher> pm = PatternMatcher::Create(patterns);
  ASSERT_TRUE(pm.has_value()) << pm.error().message();
  if (c.kind == "TestExclusionPatternMatchesPatternBefore") {
    EXPECT_TRUE(*MatchesOrParentMatches("fileutils.go", patterns));
  } else if (c.kind == "TestExclusionPatternMatchesPatternAfter") {
    EXPECT_FALSE(*MatchesOrParentMatches("fileutils.go", patterns));
  } else if (c.kind.rfind("TestPatternMatchesFolder", 0) == 0) {
    EXPECT_FALSE(*MatchesOrParentMatches("docs/README.md", patterns));
  } else if (c.kind == "TestCleanPatterns" || c.kind == "TestCleanPatternsStripEmptyPatterns") {
    EXPECT_EQ(pm->size(), 2u);
  } else if (c.kind.rfind("TestCleanPatterns", 0) == 0) {
    EXPECT_TRUE(pm->has_exclusions());
  } else {
    ADD_FAILURE() << "unknown table " << c.kind;
  }
}

INSTANTIATE_TEST_SUITE_P(Moby, PatternMatcherTest, testing::ValuesIn(LoadCases()),
                         [](const testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(PatternMatcherTest, Errors) {
  EXPECT_EQ(PatternMatcher::Create({"!"}).error().message(), "illegal exclusion pattern: \"!\"");
  EXPECT_EQ(PatternMatcher::Create({"["}).error().message(), "syntax error in pattern");
  EXPECT_FALSE(MatchesOrParentMatches("/any/path/there", {"["}).has_value());
  EXPECT_FALSE(*MatchesOrParentMatches(".", {"*.go"}));
  EXPECT_FALSE(*MatchesOrParentMatches("/any/path/there", {}));
}

TEST(PatternMatcherTest, ReversedRangeFailsAtEveryMatch) {
  // Upstream regression test for moby/moby#52203: valid for filepath.Match, rejected by Go's
  // regexp, so it is an error each time the pattern is evaluated.
  Result<PatternMatcher> pm = PatternMatcher::Create({"[Local-Only]/"});
  ASSERT_TRUE(pm.has_value());
  for (int i = 0; i < 2; ++i) {
    Result<bool> m = pm->MatchesOrParentMatches("x");
    ASSERT_FALSE(m.has_value());
    EXPECT_EQ(m.error().message(), "syntax error in pattern");
  }
}

TEST(PatternMatcherTest, ExceptionsAndParents) {
  Result<PatternMatcher> pm =
      PatternMatcher::Create({"*", "!src", "src/**/*.o", "!src/keep.o", "**/.git"});
  ASSERT_TRUE(pm.has_value());
  EXPECT_TRUE(*pm->MatchesOrParentMatches("README.md"));
  EXPECT_FALSE(*pm->MatchesOrParentMatches("src/main.cc"));
  EXPECT_TRUE(*pm->MatchesOrParentMatches("src/a/b/x.o"));
  EXPECT_TRUE(*pm->MatchesOrParentMatches("src/x.o"));
  EXPECT_FALSE(*pm->MatchesOrParentMatches("src/keep.o"));
  EXPECT_TRUE(*pm->MatchesOrParentMatches("src/.git/config"));
  EXPECT_TRUE(pm->has_exclusions());
  EXPECT_EQ(pm->pattern(1), "src");
  EXPECT_TRUE(pm->is_exclusion(1));
}

TEST(PatternMatcherTest, ClassesAndStars) {
  EXPECT_TRUE(*MatchesOrParentMatches("a/b.txt", {"[a-c]/*.txt"}));
  EXPECT_FALSE(*MatchesOrParentMatches("d/b.txt", {"[a-c]/*.txt"}));
  // As in upstream's regexp, a negated class also matches '/'.
  EXPECT_TRUE(*MatchesOrParentMatches("a/b", {"a[^x]b"}));
  EXPECT_TRUE(*MatchesOrParentMatches("x/a/b/c/y.go", {"x/**/*.go"}));
  EXPECT_TRUE(*MatchesOrParentMatches("x/y.go", {"x/**/*.go"}));
  EXPECT_FALSE(*MatchesOrParentMatches("xy.go", {"x/**/*.go"}));
  EXPECT_TRUE(*MatchesOrParentMatches("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                      {"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a"}));
  EXPECT_FALSE(*MatchesOrParentMatches("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                       {"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*ab"}));
}

}  // namespace
}  // namespace hoist
