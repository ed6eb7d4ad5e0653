#include "registry/internal/auth_challenge.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/base64.h"

namespace hoist::registry::internal {
namespace {

TEST(AuthChallengeTest, CorpusCases) {
  std::ifstream in(std::string(HOIST_CORPORA_DIR) +
                   "/distribution-distribution/derived/authchallenge.handwritten.json");
  ASSERT_TRUE(in) << "corpus missing";
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str());
  ASSERT_FALSE(j["parse_cases"].empty());
  for (const auto& c : j["parse_cases"]) {
    auto got = ParseAuthChallenges(c["www_authenticate"].get<std::string>());
    ASSERT_EQ(got.size(), c["expect"].size()) << c["www_authenticate"];
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].scheme, c["expect"][i]["scheme"].get<std::string>());
      std::map<std::string, std::string> want = c["expect"][i]["params"];
      EXPECT_EQ(got[i].params, want);
    }
  }
}

TEST(AuthChallengeTest, RegistryShapes) {
  auto got = ParseAuthChallenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull")");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].scheme, "bearer");
  EXPECT_EQ(got[0].params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(got[0].params["service"], "registry.docker.io");
  EXPECT_EQ(got[0].params["scope"], "repository:library/alpine:pull");

  got = ParseAuthChallenges(R"(Basic realm="Registry Realm")");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].scheme, "basic");
  EXPECT_EQ(got[0].params["realm"], "Registry Realm");

  // Two challenges in one header; upper-case scheme and parameter names.
  got = ParseAuthChallenges(R"(BASIC Realm="a", Bearer realm="b",service=s)");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].scheme, "basic");
  EXPECT_EQ(got[0].params["realm"], "a");
  EXPECT_EQ(got[1].scheme, "bearer");
  EXPECT_EQ(got[1].params["service"], "s");
}

TEST(AuthChallengeTest, MalformedInputNeverCrashes) {
  for (const char* h : {"", ",,,", "=", "Bearer realm=\"unterminated", "Bearer ,=,=\"", "\"\"",
                        "Bearer realm", "Bearer realm=", "  Basic  "}) {
    auto got = ParseAuthChallenges(h);
    for (const auto& c : got) EXPECT_FALSE(c.scheme.empty()) << h;
  }
  auto got = ParseAuthChallenges("Bearer realm=\"unterminated");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].params["realm"], "unterminated");
}

TEST(Base64Test, RoundTripsAndRejects) {
  EXPECT_EQ(Base64Encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("a"), "YQ==");
  EXPECT_EQ(*Base64Decode("YQ=="), "a");
  EXPECT_EQ(*Base64Decode("dXNlcjpwYXNz"), "user:pass");
  EXPECT_EQ(*Base64Decode("YWI="), "ab");
  EXPECT_FALSE(Base64Decode("abc").has_value());
  EXPECT_FALSE(Base64Decode("a$==").has_value());
}

}  // namespace
}  // namespace hoist::registry::internal
