#include "registry/internal/responses.h"

#include <gtest/gtest.h>

namespace hoist::registry::internal {
namespace {

TEST(RegistryErrorTextTest, JoinsTheErrorsOfADistributionErrorDocument) {
  EXPECT_EQ(RegistryErrorText(403, R"({"errors":[{"code":"DENIED","message":"requested access to the resource is denied"},
                                                {"code":"NAME_UNKNOWN"}]})"),
            "denied: requested access to the resource is denied; name unknown");
  EXPECT_EQ(RegistryErrorText(400, R"({"errors":[{"message":"only a message"}]})"), "only a message");
}

TEST(RegistryErrorTextTest, FallsBackToTheStatusForAnythingElse) {
  EXPECT_EQ(RegistryErrorText(401, "<html>nope</html>"), "unauthorized: authentication required");
  EXPECT_EQ(RegistryErrorText(404, R"({"errors":"not a list"})"), "not found");
  EXPECT_EQ(RegistryErrorText(502, R"({"errors":[1,"x",null,{}]})"), "unexpected status 502");
  // Fields of the wrong type are ignored, never thrown on.
  EXPECT_EQ(RegistryErrorText(429, R"({"errors":[{"code":7,"message":{"a":1}}]})"),
            "toomanyrequests: too many requests");
  EXPECT_EQ(RegistryErrorText(500, R"({"errors":[{"code":"UNKNOWN","message":["x"]}]})"), "unknown");
}

TEST(ParseTokenResponseTest, ReadsTheTokenFieldsDistributionAndOAuthUse) {
  auto t = ParseTokenResponse(R"({"token":"a","access_token":"b","refresh_token":"r","expires_in":300})");
  ASSERT_TRUE(t) << t.error().message();
  EXPECT_EQ(t->token, "a");
  EXPECT_EQ(t->refresh_token, "r");
  EXPECT_EQ(t->expires_in, 300);
  t = ParseTokenResponse(R"({"access_token":"b"})");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->token, "b");
  EXPECT_EQ(t->expires_in, 60);
}

TEST(ParseTokenResponseTest, KeepsTheLifetimeInRangeWhateverTheServerSays) {
  for (const char* body : {R"({"token":"a","expires_in":9223372036854775807})",
                           R"({"token":"a","expires_in":18446744073709551615})",
                           R"({"token":"a","expires_in":100000000000})"}) {
    auto t = ParseTokenResponse(body);
    ASSERT_TRUE(t) << body;
    EXPECT_EQ(t->expires_in, kMaxTokenLifetime) << body;
  }
  for (const char* body : {R"({"token":"a","expires_in":-9223372036854775808})",
                           R"({"token":"a","expires_in":0})"}) {
    auto t = ParseTokenResponse(body);
    ASSERT_TRUE(t) << body;
    EXPECT_EQ(t->expires_in, 10) << body;
  }
  auto t = ParseTokenResponse(R"({"token":"a","expires_in":"soon"})");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->expires_in, 60);
}

TEST(ParseTokenResponseTest, RefusesResponsesWithoutAToken) {
  for (const char* body : {"", "[]", "null", R"({"token":5})", R"({"token":""})", "{"}) {
    auto t = ParseTokenResponse(body);
    ASSERT_FALSE(t) << body;
    EXPECT_EQ(t.error().code(), Code::kUnavailable);
  }
  EXPECT_EQ(ParseTokenResponse("[]").error().message(), "token request: response is not JSON");
  EXPECT_EQ(ParseTokenResponse("{}").error().message(), "token request: no token in the response");
}

}  // namespace
}  // namespace hoist::registry::internal
