// GCC 12 warns falsely inside <regex>'s std::function state under -fsanitize (libstdc++
// regex + -Wmaybe-uninitialized); the pragma must precede every include to cover the headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// The hand-written reference grammar against distribution/reference's regexp tables, and
// against upstream's expanded regular expressions (regexps.json) run by std::regex over every
// input the corpus holds.
#include "oci/reference_grammar.h"

#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/testing/corpus.h"

namespace hoist::oci::reference_grammar {
namespace {

using nlohmann::json;

const json& Load(const std::string& file) {
  return LoadCorpusJson("distribution-reference/derived/" + file);
}

std::vector<json> Rows(const std::string& func) {
  return CorpusTableRows("distribution-reference/derived/regexp_test.tables.json", func);
}

std::string RowName(const ::testing::TestParamInfo<json>& info) {
  return "row" + std::to_string(info.index);
}

class ReferenceRegexpDomain : public ::testing::TestWithParam<json> {};
TEST_P(ReferenceRegexpDomain, Matches) {
  EXPECT_EQ(MatchDomain(GetParam()["input"].get<std::string>()), GetParam()["match"].get<bool>())
      << GetParam()["input"];
}
INSTANTIATE_TEST_SUITE_P(Reference, ReferenceRegexpDomain, ::testing::ValuesIn(Rows("TestDomainRegexp")),
                         RowName);

class ReferenceRegexpFullName : public ::testing::TestWithParam<json> {};
TEST_P(ReferenceRegexpFullName, MatchesWithGroups) {
  const json& tc = GetParam();
  const std::string input = tc["input"];
  std::optional<NameMatch> m = MatchName(input);
  ASSERT_EQ(m.has_value(), tc["match"].get<bool>()) << tc["input"];
  if (!m || !tc.contains("subs")) return;
  EXPECT_EQ(m->domain, tc["subs"][0].get<std::string>());
  EXPECT_EQ(m->remote_name, tc["subs"][1].get<std::string>());
}
INSTANTIATE_TEST_SUITE_P(Reference, ReferenceRegexpFullName,
                         ::testing::ValuesIn(Rows("TestFullNameRegexp")), RowName);

class ReferenceRegexpReference : public ::testing::TestWithParam<json> {};
TEST_P(ReferenceRegexpReference, MatchesWithGroups) {
  const json& tc = GetParam();
  const std::string input = tc["input"];
  std::optional<ReferenceMatch> m = MatchReference(input);
  ASSERT_EQ(m.has_value(), tc["match"].get<bool>()) << tc["input"];
  if (!m || !tc.contains("subs")) return;
  EXPECT_EQ(m->name, tc["subs"][0].get<std::string>());
  EXPECT_EQ(m->tag, tc["subs"][1].get<std::string>());
  EXPECT_EQ(m->digest, tc["subs"][2].get<std::string>());
}
INSTANTIATE_TEST_SUITE_P(Reference, ReferenceRegexpReference,
                         ::testing::ValuesIn(Rows("TestReferenceRegexp")), RowName);

class ReferenceRegexpIdentifier : public ::testing::TestWithParam<json> {};
TEST_P(ReferenceRegexpIdentifier, Matches) {
  EXPECT_EQ(MatchIdentifier(GetParam()["input"].get<std::string>()),
            GetParam()["match"].get<bool>());
}
INSTANTIATE_TEST_SUITE_P(Reference, ReferenceRegexpIdentifier,
                         ::testing::ValuesIn(Rows("TestIdentifierRegexp")), RowName);

// Every string the reference corpus parses or matches, plus variations that probe the
// boundaries of each production.
std::set<std::string> AllInputs() {
  std::set<std::string> out;
  std::function<void(const json&)> walk = [&](const json& j) {
    if (j.is_string()) {
      out.insert(j.get<std::string>());
    } else if (j.is_array() || j.is_object()) {
      for (const json& v : j) walk(v);
    }
  };
  for (const char* f : {"regexp_test.tables.json", "reference_test.tables.json",
                        "normalize_test.tables.json"}) {
    json doc = Load(f);
    if (!doc.is_discarded()) walk(doc["tables"]);
  }
  for (const std::string& extra : std::vector<std::string>{
           "a", "a.", ".a", "a..b", "a__b", "a___b", "a-_b", "a--b", "a:1", "a:", "a@", "a:b@",
        "A", "a/B", "[::1]", "[::1]/a", "[]/a", "[::1]:/a", "a:01/b", "x:" + std::string(128, 't'),
        "x:" + std::string(129, 't'), "x:_t", "x:.t", "x@a+b:" + std::string(32, 'F'),
        "x@a++b:" + std::string(32, 'f'), "x@1a:" + std::string(32, 'f'),
        "x@a:" + std::string(31, 'f'), "localhost/a:b@sha256:" + std::string(64, '0')}) {
    out.insert(extra);
  }
  return out;
}

std::string Pattern(const json& regexps, const std::string& key_prefix) {
  for (const auto& [key, value] : regexps.items()) {
    if (key.starts_with(key_prefix)) return value;
  }
  ADD_FAILURE() << "no regexp " << key_prefix;
  return "$^";
}

TEST(ReferenceRegexpCrossCheck, AgreesWithUpstreamExpandedRegexps) {
  json regexps = Load("regexps.json");
  ASSERT_FALSE(regexps.is_discarded());
  // ECMAScript regexps are leftmost-first like Go's, so groups must agree too.
  std::regex reference(Pattern(regexps, "ReferenceRegexp "));
  std::regex name(Pattern(regexps, "anchoredNameRegexp "));
  std::regex domain("^(?:" + Pattern(regexps, "DomainRegexp") + ")$");
  std::regex tag("^(?:" + Pattern(regexps, "TagRegexp") + ")$");
  std::regex digest("^(?:" + Pattern(regexps, "DigestRegexp") + ")$");
  std::regex identifier(Pattern(regexps, "anchoredIdentifierRegexp"));
  int checked = 0;
  for (const std::string& s : AllInputs()) {
    if (s.size() > 300) continue;  // std::regex recurses per character
    SCOPED_TRACE(s);
    std::smatch m;
    bool ref_ok = std::regex_match(s, m, reference);
    std::optional<ReferenceMatch> ours = MatchReference(s);
    ASSERT_EQ(ours.has_value(), ref_ok);
    if (ref_ok) {
      EXPECT_EQ(ours->name, m[1].str());
      EXPECT_EQ(ours->tag, m[2].str());
      EXPECT_EQ(ours->digest, m[3].str());
    }
    bool name_ok = std::regex_match(s, m, name);
    std::optional<NameMatch> ours_name = MatchName(s);
    ASSERT_EQ(ours_name.has_value(), name_ok);
    if (name_ok) {
      EXPECT_EQ(ours_name->domain, m[1].str());
      EXPECT_EQ(ours_name->remote_name, m[2].str());
    }
    EXPECT_EQ(MatchDomain(s), std::regex_match(s, domain));
    EXPECT_EQ(MatchTag(s), std::regex_match(s, tag));
    EXPECT_EQ(MatchDigest(s), std::regex_match(s, digest));
    EXPECT_EQ(MatchIdentifier(s), std::regex_match(s, identifier));
    ++checked;
  }
  EXPECT_GT(checked, 300);
}

}  // namespace
}  // namespace hoist::oci::reference_grammar
