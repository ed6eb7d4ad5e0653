// Platform parsing, formatting and matching against containerd/platforms' own test tables
// (shared/corpora/containerd-platforms/derived), one parameterised case per table row.
#include "oci/platform.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/testing/corpus.h"

namespace hoist::oci {
namespace {

using nlohmann::json;

// The rows of the table of test function `func` (the `index`th such table in the file).
std::vector<json> Rows(const std::string& file, const std::string& func, int index = 0) {
  return CorpusTableRows("containerd-platforms/derived/" + file, func, index);
}

// The host values the Go tests use for runtime.GOOS, runtime.GOARCH and the default variant.
std::string HostIdent(const std::string& name) {
  Platform host = HostPlatform();
  if (name == "defaultOS") return host.os;
  if (name == "defaultArch") return host.architecture;
  if (name == "defaultVariant") {
    return host.architecture == "arm" && host.variant != "v7" ? host.variant : "";
  }
  ADD_FAILURE() << "unknown identifier " << name;
  return "";
}

// Go's path.Join over non-empty elements (the tables only join clean words).
std::string GoPathJoin(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

// A string cell: a literal, a host identifier, or the one Go expression form the tables use,
// `path.Join(a, "b", ...)` over identifiers and string literals.
std::string StringCell(const json& cell) {
  if (cell.is_string()) return cell.get<std::string>();
  if (cell.contains("$ident")) return HostIdent(cell["$ident"]);
  std::string expr = cell.value("$expr", "");
  const std::string prefix = "path.Join(";
  if (!expr.starts_with(prefix) || expr.back() != ')') {
    ADD_FAILURE() << "unsupported expression " << expr;
    return "";
  }
  std::string args = expr.substr(prefix.size(), expr.size() - prefix.size() - 1);
  std::vector<std::string> parts;
  std::stringstream ss(args);
  std::string arg;
  while (std::getline(ss, arg, ',')) {
    arg.erase(0, arg.find_first_not_of(' '));
    arg.erase(arg.find_last_not_of(' ') + 1);
    if (arg.size() >= 2 && arg.front() == '"' && arg.back() == '"') {
      parts.push_back(arg.substr(1, arg.size() - 2));
    } else {
      parts.push_back(HostIdent(arg));
    }
  }
  return GoPathJoin(parts);
}

Platform PlatformCell(const json& cell) {
  Platform p;
  if (cell.contains("OS")) p.os = StringCell(cell["OS"]);
  if (cell.contains("Architecture")) p.architecture = StringCell(cell["Architecture"]);
  if (cell.contains("Variant")) p.variant = StringCell(cell["Variant"]);
  if (cell.contains("OSVersion")) p.os_version = StringCell(cell["OSVersion"]);
  if (cell.contains("OSFeatures")) p.os_features = cell["OSFeatures"].get<std::vector<std::string>>();
  return p;
}

Platform Make(std::string os, std::string arch, std::string variant = "",
              std::string os_version = "") {
  Platform p;
  p.os = std::move(os);
  p.architecture = std::move(arch);
  p.variant = std::move(variant);
  p.os_version = std::move(os_version);
  return p;
}

Platform MustParse(const std::string& s) {
  Result<Platform> p = ParsePlatform(s);
  EXPECT_TRUE(p) << s << ": " << p.error().message();
  return p ? *p : Platform{};
}

std::string Show(const Platform& p) {
  std::string features;
  for (const std::string& f : p.os_features) features += "+" + f;
  return "{os=" + p.os + " arch=" + p.architecture + " variant=" + p.variant +
         " os_version=" + p.os_version + " features=" + features + "}";
}

// The Go tests sort with sort.Slice / sort.SliceStable, which for these few elements is an
// insertion sort; the comparers are not all strict weak orders, so replay exactly that.
void GoInsertionSort(std::vector<Platform>& v, const PlatformMatcher& m) {
  for (size_t i = 1; i < v.size(); ++i) {
    for (size_t j = i; j > 0 && m.Less(v[j], v[j - 1]); --j) std::swap(v[j], v[j - 1]);
  }
}

std::vector<std::string> FormatAllOf(const std::vector<Platform>& ps) {
  std::vector<std::string> out;
  for (const Platform& p : ps) out.push_back(FormatPlatformAll(p));
  return out;
}

std::string RowName(const ::testing::TestParamInfo<json>& info) {
  return "row" + std::to_string(info.index);
}

// ---- platforms_test.go ----

class PlatformParseSelector : public ::testing::TestWithParam<json> {};

TEST_P(PlatformParseSelector, ParsesMatchesFormatsAndRoundTrips) {
  const json& row = GetParam();
  const std::string input = row["input"];
  SCOPED_TRACE(input);
  if (row.value("skip", false)) {
    // Upstream skips its wildcard rows as not yet supported; its Parse rejects `*`.
    EXPECT_FALSE(ParsePlatform(input)) << "wildcards are not supported";
    return;
  }
  Result<Platform> p = ParsePlatform(input);
  ASSERT_TRUE(p) << p.error().message();
  Platform expected = PlatformCell(row["expected"]);
  EXPECT_EQ(*p, expected) << Show(*p) << " != " << Show(expected);

  PlatformMatcher m = PlatformMatcher::Exact(*p);
  EXPECT_TRUE(m.Match(expected));
  for (const json& mc : row.value("matches", json::array())) {
    EXPECT_TRUE(m.Match(PlatformCell(mc))) << Show(PlatformCell(mc));
  }

  bool v2 = row.value("useV2Format", false);
  std::string formatted = v2 ? FormatPlatformAll(*p) : FormatPlatform(*p);
  EXPECT_EQ(formatted, StringCell(row["formatted"]));
  Result<Platform> reparsed = ParsePlatform(formatted);
  ASSERT_TRUE(reparsed) << reparsed.error().message();
  EXPECT_EQ(v2 ? FormatPlatformAll(*reparsed) : FormatPlatform(*reparsed), formatted);
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformParseSelector,
                         ::testing::ValuesIn(Rows("platforms_test.tables.json", "TestParseSelector")),
                         RowName);

class PlatformFormatAllEncoding : public ::testing::TestWithParam<json> {};

TEST_P(PlatformFormatAllEncoding, EncodesAndRoundTrips) {
  Platform p = PlatformCell(GetParam()["platform"]);
  std::string formatted = FormatPlatformAll(p);
  EXPECT_EQ(formatted, GetParam()["expected"].get<std::string>());
  Result<Platform> reparsed = ParsePlatform(formatted);
  ASSERT_TRUE(reparsed) << reparsed.error().message();
  EXPECT_EQ(reparsed->os_version, p.os_version);
  EXPECT_EQ(reparsed->os_features, p.os_features);
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformFormatAllEncoding,
                         ::testing::ValuesIn(Rows("platforms_test.tables.json",
                                                  "TestFormatAllEncoding")),
                         RowName);

class PlatformParseInvalid : public ::testing::TestWithParam<json> {};

TEST_P(PlatformParseInvalid, FailsNamingTheSpecifier) {
  const std::string input = GetParam()["input"];
  Result<Platform> p = ParsePlatform(input);
  ASSERT_FALSE(p) << Show(*p);
  EXPECT_EQ(p.error().code(), Code::kInvalidArgument);
  EXPECT_NE(p.error().message().find("\"" + input + "\""), std::string::npos)
      << p.error().message();
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformParseInvalid,
                         ::testing::ValuesIn(Rows("platforms_test.tables.json",
                                                  "TestParseSelectorInvalid")),
                         RowName);

// Found by the reference fuzzer: "w3/." parsed with "." as the architecture, which formats
// away ("w3") and does not parse back. "." and ".." name no component and are refused.
TEST(PlatformParse, DotComponentsAreRefused) {
  for (const char* input : {"w3/.", "linux/..", "linux/amd64/.", "linux/../amd64"}) {
    Result<Platform> p = ParsePlatform(input);
    ASSERT_FALSE(p) << input << " parsed as " << Show(*p);
    EXPECT_NE(p.error().message().find("is not a valid component"), std::string::npos)
        << p.error().message();
  }
  Result<Platform> dotted = ParsePlatform("linux/arm.v2");
  ASSERT_TRUE(dotted) << dotted.error().message();
  EXPECT_EQ(dotted->architecture, "arm.v2");
}

// Found by the reference fuzzer: a feature holding a byte the parser takes only escaped (`;`
// from `%3B`) is formatted escaped, so that it parses back.
TEST(PlatformFormatAll, EscapesEveryByteTheParserTakesOnlyEscaped) {
  auto p = ParsePlatform("linux(+feat%3Bv2)/amd64");
  ASSERT_TRUE(p) << p.error().message();
  ASSERT_EQ(p->os_features, std::vector<std::string>{"feat;v2"});
  EXPECT_EQ(FormatPlatformAll(*p), "linux(+feat%3Bv2)/amd64");
  auto again = ParsePlatform(FormatPlatformAll(*p));
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(*again, *p);
}

TEST(PlatformFormatAll, SkipsEmptyOsFeatures) {
  std::vector<json> features = Rows("platforms_test.tables.json", "TestFormatAllSkipsEmptyOSFeatures");
  ASSERT_EQ(features.size(), 4u);
  Platform p = Make("linux", "amd64");
  for (const json& f : features) p.os_features.push_back(f);
  // The expectation is written in the upstream test body.
  EXPECT_EQ(FormatPlatformAll(p), "linux(+gpu+simd)/amd64");
}

// The benchmark tables carry no expectations; they are inputs built to stress the parser and
// the formatter. maxFeatures is 16 in both upstream benchmarks.
constexpr int kMaxFeatures = 16;

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(PlatformBenchmarkInputs, ParseOsOptionsIsLinearAndFollowsTheGrammar) {
  std::vector<json> rows = Rows("platforms_test.tables.json", "BenchmarkParseOSOptions");
  ASSERT_EQ(rows.size(), 4u);
  // The three expressions, evaluated as Go would; the first row is a literal.
  std::map<std::string, std::string> inputs = {
      {"valid windows version and feature", rows[0]["input"]},
      {"valid but lengthy features", "linux(+" + Repeat("+feature", kMaxFeatures) + ")/amd64"},
      {"exploding plus chain", "linux(" + Repeat("+", 64 * 1024) + ")/amd64"},
      {"kernel config feature blob", "linux(+CONFIG_" + Repeat("FOO=y_", 16 * 1024) + "BAR)/amd64"},
  };
  for (const json& row : rows) ASSERT_TRUE(inputs.count(row["doc"])) << row["doc"];
  auto start = std::chrono::steady_clock::now();
  Result<Platform> ok = ParsePlatform(inputs["valid windows version and feature"]);
  ASSERT_TRUE(ok);
  EXPECT_EQ(FormatPlatformAll(*ok), "windows(10.0.17763+win32k)/amd64");
  // `linux(++feature...)` opens with an empty feature, which containerd's OS pattern rejects
  // despite the benchmark's name; a run of `+` and a `=` are outside the grammar too.
  EXPECT_FALSE(ParsePlatform(inputs["valid but lengthy features"]));
  EXPECT_FALSE(ParsePlatform(inputs["exploding plus chain"]));
  EXPECT_FALSE(ParsePlatform(inputs["kernel config feature blob"]));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(PlatformBenchmarkInputs, FormatAllOsFeaturesRoundTrips) {
  std::vector<json> rows = Rows("platforms_test.tables.json", "BenchmarkFormatAllOSFeatures");
  ASSERT_EQ(rows.size(), 7u);
  for (const json& row : rows) {
    SCOPED_TRACE(row["doc"].get<std::string>());
    const json& cell = row["platform"];
    Platform p;
    p.os = cell["OS"];
    p.architecture = cell["Architecture"];
    p.os_version = cell.value("OSVersion", "");
    const std::string doc = row["doc"];
    if (doc == "valid but lengthy features") {
      p.os_features.assign(kMaxFeatures, "feature");
    } else if (doc == "kernel config feature blob") {
      p.os_features = {"CONFIG_" + Repeat("FOO_", 16 * 1024) + "BAR"};
    } else if (doc == "many kernel config features with empties") {
      for (int i = 0; i < 1024; ++i) {
        p.os_features.push_back(i % 10 == 0 ? "" : "CONFIG_FOO_" + std::to_string(i));
      }
    } else if (doc == "too many features") {
      p.os_features.assign(kMaxFeatures + 1, "");
    } else {
      ASSERT_TRUE(!cell.contains("OSFeatures") || cell["OSFeatures"].is_array()) << doc;
      if (cell.contains("OSFeatures")) {
        p.os_features = cell["OSFeatures"].get<std::vector<std::string>>();
      }
    }
    std::vector<std::string> want = p.os_features;
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    want.erase(std::remove(want.begin(), want.end(), ""), want.end());

    std::string formatted = FormatPlatformAll(p);
    Result<Platform> back = ParsePlatform(formatted);
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(back->os_features, want);
    EXPECT_EQ(back->os_version, p.os_version);
    if (want.empty() && p.os_version.empty()) {
      EXPECT_EQ(formatted, "linux/amd64");
    }
  }
}

// ---- compare_test.go ----

struct MatchCase {
  std::string matcher;  // Only, OnlyStrict, OnlyOS
  json row;
};

std::vector<MatchCase> MatchCases() {
  std::vector<MatchCase> out;
  for (std::string func : {"TestOnly", "TestOnlyStrict", "TestOnlyOS"}) {
    for (json& row : Rows("compare_test.tables.json", func)) {
      out.push_back({func.substr(4), std::move(row)});
    }
  }
  return out;
}

class PlatformOnly : public ::testing::TestWithParam<MatchCase> {};

TEST_P(PlatformOnly, MatchesExactlyTheCompatiblePlatforms) {
  const MatchCase& c = GetParam();
  const std::string want = c.row["platform"];
  Platform p = MustParse(want);
  PlatformMatcher m = c.matcher == "Only"         ? PlatformMatcher::Only(p)
                      : c.matcher == "OnlyStrict" ? PlatformMatcher::OnlyStrict(p)
                                                  : PlatformMatcher::OnlyOS(p);
  int checked = 0;
  for (const auto& [should, list] : c.row["matches"].items()) {
    for (const json& s : list) {
      EXPECT_EQ(m.Match(MustParse(s)), should == "true")
          << c.matcher << "(" << want << ").Match(" << s.get<std::string>() << ")";
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformOnly, ::testing::ValuesIn(MatchCases()),
                         [](const ::testing::TestParamInfo<MatchCase>& info) {
                           return info.param.matcher + "_row" + std::to_string(info.index);
                         });

class PlatformOnlyOsLess : public ::testing::TestWithParam<json> {};

TEST_P(PlatformOnlyOsLess, OrdersTheWantedArchitectureFirst) {
  const json& row = GetParam();
  PlatformMatcher m = PlatformMatcher::OnlyOS(MustParse(row["platform"]));
  Result<std::vector<Platform>> ps = ParsePlatforms(row["platforms"].get<std::vector<std::string>>());
  ASSERT_TRUE(ps);
  GoInsertionSort(*ps, m);
  EXPECT_EQ(FormatAllOf(*ps), row["expected"].get<std::vector<std::string>>());
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformOnlyOsLess,
                         ::testing::ValuesIn(Rows("compare_test.tables.json", "TestOnlyOSLess")),
                         RowName);

// TestCompareOSFeatures: each row of the first table sorted by each comparer of the second.
struct FeatureOrderCase {
  json row;
  std::string comparer;
};

std::vector<FeatureOrderCase> FeatureOrderCases() {
  std::vector<FeatureOrderCase> out;
  std::vector<json> comparers = Rows("compare_test.tables.json", "TestCompareOSFeatures", 1);
  for (const json& row : Rows("compare_test.tables.json", "TestCompareOSFeatures", 0)) {
    for (const json& c : comparers) out.push_back({row, c["mc"]["$expr"]});
  }
  return out;
}

class PlatformCompareOsFeatures : public ::testing::TestWithParam<FeatureOrderCase> {};

TEST_P(PlatformCompareOsFeatures, PrefersMoreMatchingFeatures) {
  const FeatureOrderCase& c = GetParam();
  Platform p = MustParse(c.row[0]);
  std::map<std::string, PlatformMatcher> comparers = {
      {"Only(p)", PlatformMatcher::Only(p)},
      {"OnlyStrict(p)", PlatformMatcher::OnlyStrict(p)},
      {"Ordered(p)", PlatformMatcher::Ordered({p})},
      {"Any(p)", PlatformMatcher::Any({p})},
  };
  ASSERT_TRUE(comparers.count(c.comparer)) << c.comparer;
  Result<std::vector<Platform>> ps = ParsePlatforms(c.row[1].get<std::vector<std::string>>());
  ASSERT_TRUE(ps);
  GoInsertionSort(*ps, comparers.at(c.comparer));
  EXPECT_EQ(FormatAllOf(*ps), c.row[2].get<std::vector<std::string>>())
      << c.comparer << " for " << c.row[0].get<std::string>();
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformCompareOsFeatures, ::testing::ValuesIn(FeatureOrderCases()),
                         [](const ::testing::TestParamInfo<FeatureOrderCase>& info) {
                           return "case" + std::to_string(info.index);
                         });

// ---- defaults_test.go ----

// The named platforms of TestMatchComparerMatch_ABICheckWCOW, defined in its body.
Platform WindowsNamed(const json& cell) {
  if (!cell.contains("$ident")) return PlatformCell(cell);
  static const std::map<std::string, std::string> kVersions = {
      {"platformNoVersion", ""},
      {"platformWS2019", "10.0.17763"},
      {"platformWS2022", "10.0.20348"},
      {"platformWindows11", "10.0.22621"},
  };
  auto it = kVersions.find(cell["$ident"]);
  EXPECT_NE(it, kVersions.end()) << cell.dump();
  return Make("windows", "amd64", "", it == kVersions.end() ? "" : it->second);
}

class PlatformWindowsAbi : public ::testing::TestWithParam<json> {};

TEST_P(PlatformWindowsAbi, HostRunsCompatibleBuilds) {
  Platform host = WindowsNamed(GetParam()["hostPlatform"]);
  Platform image = WindowsNamed(GetParam()["testPlatform"]);
  EXPECT_EQ(PlatformMatcher::Exact(host).Match(image), GetParam()["match"].get<bool>())
      << "host " << host.os_version << " image " << image.os_version;
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformWindowsAbi,
                         ::testing::ValuesIn(Rows("defaults_test.tables.json",
                                                  "TestMatchComparerMatch_ABICheckWCOW")),
                         RowName);

TEST(PlatformWindowsLess, PrefersMatchingThenHigherOsVersion) {
  std::vector<Platform> platforms;
  for (const json& p : Rows("defaults_test.tables.json", "TestWindowsMatchComparerLess", 0)) {
    platforms.push_back(PlatformCell(p));
  }
  std::vector<Platform> expected;
  for (const json& p : Rows("defaults_test.tables.json", "TestWindowsMatchComparerLess", 1)) {
    expected.push_back(PlatformCell(p));
  }
  ASSERT_EQ(platforms.size(), 5u);
  // The matcher's platform is written in the upstream test body.
  PlatformMatcher m = PlatformMatcher::Exact(
      Make("windows", "amd64", "", "10.0.17763.1"));
  GoInsertionSort(platforms, m);
  EXPECT_EQ(FormatAllOf(platforms), FormatAllOf(expected));
}

// ---- cpuinfo_linux_test.go ----

class PlatformCpuVariantFromMachine : public ::testing::TestWithParam<json> {};

TEST_P(PlatformCpuVariantFromMachine, MapsUnameMachine) {
  const json& row = GetParam();
  Result<std::string> v = CpuVariantFromMachine(row["input"].get<std::string>());
  if (row["expectedErr"].is_null()) {
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(*v, row["output"].get<std::string>());
  } else {
    ASSERT_FALSE(v) << *v;
    EXPECT_EQ(v.error().code(), Code::kInvalidArgument);  // errInvalidArgument
  }
}

INSTANTIATE_TEST_SUITE_P(Platform, PlatformCpuVariantFromMachine,
                         ::testing::ValuesIn(Rows("cpuinfo_linux_test.tables.json",
                                                  "TestGetCPUVariantFromArch")),
                         RowName);

// TestCPUVariant's list of valid variants: upstream checks the host's on ARM only. Here each
// one is also produced from a /proc/cpuinfo text, so the table is exercised on every host.
TEST(PlatformCpuVariant, CpuInfoYieldsEachListedVariant) {
  std::vector<json> variants = Rows("cpuinfo_linux_test.tables.json", "TestCPUVariant");
  ASSERT_EQ(variants.size(), 6u);
  for (const json& v : variants) {
    std::string want = v;
    std::string cpuinfo = "processor\t: 0\nCPU architecture: " + want.substr(1) + "\nCPU revision\t: 4\n";
    Result<std::string> got = CpuVariantFromCpuInfo(cpuinfo, "unused", /*arm32=*/false);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, want);
  }
  Platform host = HostPlatform();
  if (host.architecture == "arm" || host.architecture == "arm64") {
    std::vector<std::string> valid;
    for (const json& v : variants) valid.push_back(v);
    EXPECT_NE(std::find(valid.begin(), valid.end(), host.variant), valid.end()) << host.variant;
  } else {
    EXPECT_EQ(host.variant, "");
  }
}

// ---- beyond the corpus ----

TEST(PlatformCpuVariant, FallsBackToMachineAndHandlesTheRaspberryPiQuirk) {
  EXPECT_EQ(*CpuVariantFromCpuInfo("processor : 0\n", "armv7l", false), "v7");
  EXPECT_EQ(*CpuVariantFromCpuInfo("", "aarch64", false), "v8");
  EXPECT_FALSE(CpuVariantFromCpuInfo("", "x86_64", false));
  std::string pi = "model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n";
  EXPECT_EQ(*CpuVariantFromCpuInfo(pi, "armv6l", /*arm32=*/true), "v6");
  EXPECT_EQ(*CpuVariantFromCpuInfo(pi, "armv6l", /*arm32=*/false), "v7");
  EXPECT_EQ(*CpuVariantFromCpuInfo("CPU architecture: 9\n", "", false), "unknown");
}

TEST(PlatformParse, NormalisesAliases) {
  EXPECT_EQ(FormatPlatform(MustParse("linux/armhf")), "linux/arm");
  EXPECT_EQ(FormatPlatform(MustParse("linux/arm/7")), "linux/arm/v7");
  EXPECT_EQ(FormatPlatform(MustParse("linux/aarch64/8")), "linux/arm64/v8");
  EXPECT_EQ(FormatPlatform(MustParse("linux/arm64/9.0")), "linux/arm64/v9");
  EXPECT_EQ(FormatPlatform(MustParse("linux/x86-64/v1")), "linux/amd64");
  EXPECT_EQ(FormatPlatform(MustParse("MacOS/arm64")), "darwin/arm64");
  EXPECT_EQ(FormatPlatform(MustParse("linux/i386")), "linux/386");
  EXPECT_EQ(FormatPlatform(Platform{}), "unknown");
  EXPECT_EQ(Normalize(Make("", "armel")), Make("linux", "arm", "v6"));
}

TEST(PlatformParse, ErrorsNameTheSpecifierAndProblem) {
  EXPECT_EQ(ParsePlatform("foo").error().message(),
            "invalid platform \"foo\": unknown operating system or architecture");
  EXPECT_EQ(ParsePlatform("linux/*").error().message(),
            "invalid platform \"linux/*\": wildcards are not supported");
  EXPECT_NE(ParsePlatform("windows(1%zz)").error().message().find("invalid OS version"),
            std::string::npos);
}

TEST(PlatformOnlyOrder, OrdersFallbacksBestFirst) {
  PlatformMatcher m = PlatformMatcher::Only(MustParse("linux/amd64/v3"));
  std::vector<Platform> ps = *ParsePlatforms(
      {"linux/386", "linux/arm64", "linux/amd64", "linux/amd64/v2", "linux/amd64/v3"});
  std::stable_sort(ps.begin(), ps.end(),
                   [&](const Platform& a, const Platform& b) { return m.Less(a, b); });
  EXPECT_EQ(FormatAllOf(ps), (std::vector<std::string>{"linux/amd64/v3", "linux/amd64/v2",
                                                       "linux/amd64", "linux/386", "linux/arm64"}));
  EXPECT_FALSE(m.Match(Make("unknown", "unknown")));
  EXPECT_TRUE(PlatformMatcher::All().Match(Platform{}));
}

}  // namespace
}  // namespace hoist::oci
