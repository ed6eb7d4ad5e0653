// Shell word expansion against BuildKit's own test data: envVarTest and wordsTest (read as
// upstream's lex_test.go reads them), the Go tables of lex_test.go transcribed to JSON, and
// the hand transcription of its remaining cases (checked against lex_test.go @ 73ed6825).
#include "frontend/dockerfile/shell_lex.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "frontend/dockerfile/internal/shell_pattern.h"

namespace hoist::frontend::dockerfile {
namespace {

using nlohmann::json;

const std::string kShellDir =
    std::string(HOIST_CORPORA_DIR) + "/moby-buildkit/frontend/dockerfile/shell/";
const std::string kDerivedDir = std::string(HOIST_CORPORA_DIR) + "/moby-buildkit/derived/";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::string TrimSpace(std::string s) {
  const char* ws = " \t\r\n\v\f";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t from = 0;
  while (true) {
    size_t at = s.find(sep, from);
    out.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return out;
    from = at + 1;
  }
}

json LoadJson(const std::string& path) {
  return json::parse(ReadFile(path), nullptr, /*allow_exceptions=*/false);
}

// The derived lexer tables, found by the Go function (and variable) they came from.
const json& LexTables() {
  static const json tables = LoadJson(kDerivedDir + "shell_lex_test.tables.json");
  return tables;
}

json LexTable(const std::string& func, const std::string& var = "", int line = 0) {
  const json& t = LexTables();
  if (!t.is_object()) return json();
  for (const json& table : t["tables"]) {
    if (table["func"] != func) continue;
    if (!var.empty() && table.value("var", "") != var) continue;
    if (line != 0 && table["line"] != line) continue;
    return table["value"];
  }
  return json();
}

std::vector<std::string> StringList(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const json& s : j) out.push_back(s.get<std::string>());
  }
  return out;
}

// --- envVarTest -------------------------------------------------------------------------

struct EnvVarCase {
  int line;
  std::string platform;  // A, U or W
  std::string input;
  std::string expected;
};

std::vector<EnvVarCase> LoadEnvVarCases() {
  std::vector<EnvVarCase> cases;
  const std::vector<std::string> lines = Lines(ReadFile(kShellDir + "envVarTest"));
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("#", 0) == 0) continue;
    const std::string line = TrimSpace(lines[i]);
    if (line.empty()) continue;
    std::vector<std::string> parts = Split(line, '|');
    if (parts.size() != 3) parts.resize(3, "<malformed line>");
    cases.push_back(
        {static_cast<int>(i + 1), TrimSpace(parts[0]), TrimSpace(parts[1]), TrimSpace(parts[2])});
  }
  if (cases.empty()) cases.push_back({0, "missing", "", ""});
  return cases;
}

class ShellEnvVarTest : public testing::TestWithParam<EnvVarCase> {};

TEST_P(ShellEnvVarTest, Expands) {
  const EnvVarCase& c = GetParam();
  ASSERT_NE(c.platform, "missing") << "no cases read from " << kShellDir << "envVarTest";
  ASSERT_TRUE(c.platform == "A" || c.platform == "U" || c.platform == "W") << c.platform;
  // The environment comes from the table that lex_test.go uses for this file.
  const std::vector<std::string> env_list = StringList(LexTable("TestShellParser4EnvVars"));
  ASSERT_EQ(env_list.size(), 4u);
  const ShellLex lex;
  // "A" rows hold on both platforms; upstream runs them on whichever it is built for.
  std::vector<EnvNameCase> platforms;
  if (c.platform != "W") platforms.push_back(EnvNameCase::kSensitive);
  if (c.platform != "U") platforms.push_back(EnvNameCase::kInsensitive);
  for (EnvNameCase name_case : platforms) {
    SCOPED_TRACE(name_case == EnvNameCase::kSensitive ? "unix rules" : "windows rules");
    const ShellEnvList env(env_list, name_case);
    Result<std::string> got = lex.ProcessWord(c.input, env);
    if (c.expected == "error") {
      EXPECT_FALSE(got.has_value()) << "line " << c.line << ": " << c.input << " -> " << *got;
    } else {
      ASSERT_TRUE(got.has_value()) << "line " << c.line << ": " << got.error().message();
      EXPECT_EQ(*got, c.expected) << "line " << c.line << ": " << c.input;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BuildKit, ShellEnvVarTest, testing::ValuesIn(LoadEnvVarCases()),
                         [](const testing::TestParamInfo<EnvVarCase>& info) {
                           return "line" + std::to_string(info.param.line) + "_" +
                                  info.param.platform;
                         });

// --- wordsTest --------------------------------------------------------------------------

struct WordsCase {
  int line;
  std::vector<std::string> env;
  std::string input;
  std::vector<std::string> expected;
};

std::vector<WordsCase> LoadWordsCases() {
  // Read as lex_test.go reads it: ENV lines accumulate, the input is trimmed, the expected
  // words keep their trailing spaces.
  std::vector<WordsCase> cases;
  std::vector<std::string> env;
  const std::vector<std::string> lines = Lines(ReadFile(kShellDir + "wordsTest"));
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.rfind("#", 0) == 0) continue;
    if (line.rfind("ENV ", 0) == 0) {
      env.push_back(line.substr(line.find_first_not_of(' ', 3)));
      continue;
    }
    std::vector<std::string> parts = Split(line, '|');
    if (parts.size() != 2) parts = {"<malformed line>", "<malformed line>"};
    const size_t start = parts[1].find_first_not_of(' ');
    cases.push_back({static_cast<int>(i + 1), env, TrimSpace(parts[0]),
                     Split(start == std::string::npos ? "" : parts[1].substr(start), ',')});
  }
  if (cases.empty()) cases.push_back({0, {}, "", {"<no cases read>"}});
  return cases;
}

class ShellWordsTest : public testing::TestWithParam<WordsCase> {};

// lex_test.go also loops over a second mode (RawQuotes + SkipUnsetEnv), but it reuses the
// already-drained file reader, so upstream runs these expectations in the normal mode only;
// they do not hold with raw quotes (hello"${space}"bye keeps its quotes).
TEST_P(ShellWordsTest, Splits) {
  const WordsCase& c = GetParam();
  ASSERT_NE(c.line, 0) << "no cases read from " << kShellDir << "wordsTest";
  const ShellLex lex;
  Result<std::vector<std::string>> got = lex.ProcessWords(c.input, ShellEnvList(c.env));
  const std::vector<std::string> words = got ? *got : std::vector<std::string>{"error"};
  EXPECT_EQ(words, c.expected) << "line " << c.line << ": " << c.input;
}

INSTANTIATE_TEST_SUITE_P(BuildKit, ShellWordsTest, testing::ValuesIn(LoadWordsCases()),
                         [](const testing::TestParamInfo<WordsCase>& info) {
                           return "line" + std::to_string(info.param.line);
                         });

// --- lex_test.go tables -----------------------------------------------------------------

struct TableCase {
  std::string name;
  json data;
};

std::string Slug(size_t index, const std::string& prefix) { return prefix + std::to_string(index); }

std::vector<TableCase> LoadMatchCases() {
  std::vector<TableCase> cases;
  const json tc = LexTable("TestProcessWithMatches", "tc");
  if (tc.is_array()) {
    for (size_t i = 0; i < tc.size(); ++i) cases.push_back({Slug(i, "case"), tc[i]});
  }
  if (cases.empty()) cases.push_back({"missing", json()});
  return cases;
}

class ShellLexMatchesTest : public testing::TestWithParam<TableCase> {};

TEST_P(ShellLexMatchesTest, ExpandsAndRecordsNames) {
  const json& c = GetParam().data;
  ASSERT_TRUE(c.is_object()) << "TestProcessWithMatches table missing";
  std::vector<std::string> env;
  for (const auto& [k, v] : c["envs"].items()) env.push_back(k + "=" + v.get<std::string>());
  const std::string input = c["input"];
  Result<ShellWordResult> got = ShellLex().Process(input, ShellEnvList(env));
  if (c.value("expectedErr", false)) {
    EXPECT_FALSE(got.has_value()) << input << " -> " << got->result;
    return;
  }
  ASSERT_TRUE(got.has_value()) << input << ": " << got.error().message();
  EXPECT_EQ(got->result, c["expected"].get<std::string>()) << input;
  auto names = [](const json& j) {
    std::set<std::string> s;
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) s.insert(k);
    }
    return s;
  };
  EXPECT_EQ(got->matched, names(c.value("matches", json()))) << input;
  EXPECT_EQ(got->unmatched, names(c.value("unmatched", json()))) << input;
}

INSTANTIATE_TEST_SUITE_P(BuildKit, ShellLexMatchesTest, testing::ValuesIn(LoadMatchCases()),
                         [](const testing::TestParamInfo<TableCase>& info) {
                           return info.param.name;
                         });

std::vector<TableCase> LoadPatternCases() {
  std::vector<TableCase> cases;
  const json regexes = LexTable("TestConvertShellPatternToRegex", "cases");
  const json invalid = LexTable("TestConvertShellPatternToRegex", "invalid");
  const json reversals = LexTable("TestReversePattern", "cases");
  size_t i = 0;
  for (const auto& [pattern, regex] : regexes.items()) {
    cases.push_back({Slug(i++, "regex"), json{{"pattern", pattern}, {"regex", regex}}});
  }
  i = 0;
  for (const json& pattern : invalid) {
    cases.push_back({Slug(i++, "invalid"), json{{"pattern", pattern}}});
  }
  i = 0;
  for (const auto& [pattern, reversed] : reversals.items()) {
    cases.push_back({Slug(i++, "reverse"), json{{"pattern", pattern}, {"reversed", reversed}}});
  }
  if (cases.empty()) cases.push_back({"missing", json()});
  return cases;
}

class ShellPatternTest : public testing::TestWithParam<TableCase> {};

TEST_P(ShellPatternTest, MatchesUpstreamConversion) {
  const json& c = GetParam().data;
  ASSERT_TRUE(c.is_object()) << "pattern tables missing";
  const std::string pattern = c["pattern"];
  if (c.contains("reversed")) {
    EXPECT_EQ(internal::ReverseShellPattern(pattern), c["reversed"].get<std::string>());
    return;
  }
  Result<internal::ShellPattern> p =
      internal::ShellPattern::Compile(pattern, /*greedy=*/true, /*anchored=*/true);
  if (!c.contains("regex")) {
    EXPECT_FALSE(p.has_value()) << pattern;
    return;
  }
  ASSERT_TRUE(p.has_value()) << p.error().message();
  EXPECT_EQ(p->regex(), c["regex"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(BuildKit, ShellPatternTest, testing::ValuesIn(LoadPatternCases()),
                         [](const testing::TestParamInfo<TableCase>& info) {
                           return info.param.name;
                         });

std::vector<TableCase> LoadHandwrittenCases() {
  std::vector<TableCase> cases;
  const json doc = LoadJson(kDerivedDir + "shell_lex_misc.handwritten.json");
  if (doc.is_object()) {
    const json& list = doc["ProcessWord (escape=\\\\)"];
    for (size_t i = 0; i < list.size(); ++i) cases.push_back({Slug(i, "case"), list[i]});
  }
  if (cases.empty()) cases.push_back({"missing", json()});
  return cases;
}

class ShellLexHandwrittenTest : public testing::TestWithParam<TableCase> {};

TEST_P(ShellLexHandwrittenTest, ProcessWord) {
  const json& c = GetParam().data;
  ASSERT_TRUE(c.is_object()) << "shell_lex_misc.handwritten.json missing";
  const std::string word = c["word"];
  Result<std::string> got = ShellLex().ProcessWord(word, ShellEnvList(StringList(c["env"])));
  if (c.contains("expect_error_contains")) {
    ASSERT_FALSE(got.has_value()) << word << " -> " << *got;
    EXPECT_NE(got.error().message().find(c["expect_error_contains"].get<std::string>()),
              std::string::npos)
        << got.error().message();
  } else {
    ASSERT_TRUE(got.has_value()) << got.error().message();
    EXPECT_EQ(*got, c["expect"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(BuildKit, ShellLexHandwrittenTest,
                         testing::ValuesIn(LoadHandwrittenCases()),
                         [](const testing::TestParamInfo<TableCase>& info) {
                           return info.param.name;
                         });

// TestGetEnv's lists; the expectations are the Go test's code (lex_test.go:225-240).
TEST(ShellEnvListTest, LaterEntriesWinAndBareKeysAreEmpty) {
  const ShellEnvList two(StringList(LexTable("TestGetEnv", "", 225)));
  ASSERT_EQ(two.keys().size(), 2u);
  EXPECT_EQ(two.Get("foo"), "bar");
  EXPECT_EQ(two.Get("car"), "hat");
  const ShellEnvList three(StringList(LexTable("TestGetEnv", "", 234)));
  ASSERT_EQ(three.keys().size(), 3u);
  EXPECT_EQ(three.Get("car"), "bike");
  EXPECT_EQ(ShellEnvList({"foo"}).Get("foo"), "");
  EXPECT_EQ(ShellEnvList({"foo="}).Get("foo"), "");
  EXPECT_EQ(ShellEnvList({}).Get("foo"), std::nullopt);
  EXPECT_EQ(ShellEnvList({"Foo=1"}, EnvNameCase::kInsensitive).Get("fOO"), "1");
  EXPECT_EQ(ShellEnvList({"Foo=1"}).Get("fOO"), std::nullopt);
}

// --- our own cases ----------------------------------------------------------------------

TEST(ShellLexTest, ErrorsNameTheWordAndTheReason) {
  const ShellEnvList env({"EMPTY="});
  const ShellLex lex;
  EXPECT_EQ(lex.ProcessWord("a${X:?}", env).error().message(),
            "failed to process \"a${X:?}\": X: is not allowed to be unset");
  EXPECT_EQ(lex.ProcessWord("${EMPTY:?}", env).error().message(),
            "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty");
  EXPECT_EQ(lex.ProcessWord("${X:?need X}", env).error().message(),
            "failed to process \"${X:?need X}\": X: need X");
  EXPECT_EQ(lex.ProcessWord("${X", env).error().message(),
            "failed to process \"${X\": syntax error: missing '}'");
  EXPECT_EQ(lex.ProcessWord("${X:-a", env).error().message(),
            "failed to process \"${X:-a\": syntax error: missing '}'");
  EXPECT_EQ(lex.ProcessWord("${}", env).error().message(),
            "failed to process \"${}\": syntax error: bad substitution");
  EXPECT_EQ(lex.ProcessWord("${X:=a}", env).error().message(),
            "failed to process \"${X:=a}\": unsupported modifier (:=) in substitution");
  EXPECT_EQ(lex.ProcessWord("${X/a", env).error().message(),
            "failed to process \"${X/a\": syntax error: missing '/' in ${}");
  EXPECT_EQ(lex.ProcessWord("\"a", env).error().message(),
            "failed to process \"\\\"a\": unexpected end of statement while looking for "
            "matching double-quote");
  EXPECT_EQ(lex.ProcessWord("${X#\\x}", env).error().message(),
            "failed to process \"${X#\\\\x}\": invalid pattern (\\x) in substitution: invalid "
            "escape '\\x'");
}

TEST(ShellLexTest, NestedExpansionKeepsEarlierWords) {
  // Upstream returns ["/tcp"] here (see shell_lex.h); EXPOSE 80${PROTO:-/tcp} means 80/tcp.
  const ShellLex lex;
  EXPECT_EQ(*lex.ProcessWords("80${PROTO:-/tcp} 443", ShellEnvList({})),
            (std::vector<std::string>{"80/tcp", "443"}));
  EXPECT_EQ(*lex.ProcessWords("a ${X:-b c}d", ShellEnvList({})),
            (std::vector<std::string>{"a", "b", "cd"}));
}

TEST(ShellLexTest, SkipUnsetEnvKeepsReferencesAndRawQuotesKeepQuotes) {
  ShellLexOptions opts;
  opts.skip_unset_env = true;
  opts.raw_quotes = true;
  const ShellLex lex(opts);
  const ShellEnvList env({"A=1"});
  EXPECT_EQ(*lex.ProcessWord("$A $B ${B} ${B:-x$A} ${B//p/r}", env), "1 $B ${B} ${B:-x1} ${B/p/r}");
  EXPECT_EQ(*lex.ProcessWord("'$A' \"$A\"", env), "'$A' \"1\"");
}

TEST(ShellLexTest, BacktickEscapeToken) {
  ShellLexOptions opts;
  opts.escape_token = '`';
  const ShellLex lex(opts);
  const ShellEnvList env({"A=1"});
  EXPECT_EQ(*lex.ProcessWord("C:\\dir `$A \"`\"\"", env), "C:\\dir $A \"");
  EXPECT_EQ(*lex.ProcessWords("a` b c", env), (std::vector<std::string>{"a b", "c"}));
}

TEST(ShellLexTest, PatternOperators) {
  const ShellLex lex;
  const ShellEnvList env({"F=dir/sub/file.tar.gz", "N=a\nb"});
  EXPECT_EQ(*lex.ProcessWord("${F#*/}", env), "sub/file.tar.gz");
  EXPECT_EQ(*lex.ProcessWord("${F##*/}", env), "file.tar.gz");
  EXPECT_EQ(*lex.ProcessWord("${F%.*}", env), "dir/sub/file.tar");
  EXPECT_EQ(*lex.ProcessWord("${F%%.*}", env), "dir/sub/file");
  EXPECT_EQ(*lex.ProcessWord("${F/[a-z]/X}", env), "dir/sub/file.tar.gz");  // [ is literal
  EXPECT_EQ(*lex.ProcessWord("${F//?/.}", env), std::string(19, '.'));
  // The replacement keeps its escapes; only // runs it through Go's template expansion,
  // where $0 is the match (an unescaped $0 is the positional parameter, expanded first).
  EXPECT_EQ(*lex.ProcessWord("${F/sub/<\\$0>}", env), "dir/<\\$0>/file.tar.gz");
  EXPECT_EQ(*lex.ProcessWord("${F//sub/<\\$0>}", env), "dir/<\\sub>/file.tar.gz");
  EXPECT_EQ(*lex.ProcessWord("${F//sub/<$0>}", env), "dir/<>/file.tar.gz");
  // As in Go's regexp, * and ? never match a newline.
  EXPECT_EQ(*lex.ProcessWord("${N#*}", env), "a\nb");
  EXPECT_EQ(*lex.ProcessWord("${N##*}", env), "\nb");
}

TEST(ShellLexTest, HeredocMarkerStaysInOneWord) {
  EXPECT_EQ(*ShellLex().ProcessWords("cat <<  EOF > out", ShellEnvList({})),
            (std::vector<std::string>{"cat", "<<  EOF", ">", "out"}));
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
