#include "control/engine_config.h"

#include <gtest/gtest.h>

namespace hoist::control {
namespace {

TEST(EngineConfig, EntitlementsAndStepLimits) {
  auto c = EngineConfig::Parse(R"(
debug = true                       # a buildkitd.toml key: ignored
insecure-entitlements = ["security.insecure", "network.host"]

[registry."docker.io"]
  mirrors = ["mirror.local"]

[step-limits]
  memory = "512MiB"
  pids = 200
)",
                               "hoist.toml");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->insecure_entitlements.Names(),
            (std::vector<std::string>{"network.host", "security.insecure"}));
  EXPECT_EQ(c->step_limits, (StepLimits{.memory_bytes = 512 << 20, .pids = 200}));
  EXPECT_EQ(c->origin, "hoist.toml");
}

TEST(EngineConfig, EmptyMeansNothingAllowedAndNoLimits) {
  auto c = EngineConfig::Parse("", "hoist.toml");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->insecure_entitlements.empty());
  EXPECT_EQ(c->step_limits, StepLimits{});
  auto bytes = EngineConfig::Parse("[step-limits]\nmemory = 104857600\n", "f");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->step_limits.memory_bytes, 104857600);
  EXPECT_EQ(bytes->step_limits.pids, 0);
}

TEST(EngineConfig, BadValuesNameFileLineAndKey) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"insecure-entitlements = \"network.host\"\n",
       "hoist.toml:1: insecure-entitlements: expected an array of strings (\"network.host\", "
       "\"security.insecure\")"},
      {"insecure-entitlements = [\n  \"network.hots\"]\n",
       "hoist.toml:2: insecure-entitlements: unknown entitlement \"network.hots\" (known: "
       "network.host, security.insecure)"},
      {"[step-limits]\nmemory = \"lots\"\n",
       "hoist.toml:2: step-limits.memory: invalid size: 'lots'"},
      {"[step-limits]\nmemory = \"1MiB\"\n",
       "hoist.toml:2: step-limits.memory: 1048576 bytes is below the least a step can run with "
       "(6MiB)"},
      {"[step-limits]\npids = 0\n", "hoist.toml:2: step-limits.pids: expected a positive integer"},
      {"[step-limits]\npids = \"10\"\n",
       "hoist.toml:2: step-limits.pids: expected a positive integer"},
      {"[step-limits]\ncpus = 2\n",
       "hoist.toml:2: step-limits.cpus: unknown key (expected memory or pids)"},
      {"step-limits = 3\n", "hoist.toml:1: step-limits: expected a table ([step-limits])"},
  };
  for (const Case& c : cases) {
    auto r = EngineConfig::Parse(c.text, "hoist.toml");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.error().message(), c.error) << c.text;
  }
  auto syntax = EngineConfig::Parse("insecure-entitlements = [", "hoist.toml");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().message().rfind("hoist.toml:1: ", 0), 0u) << syntax.error().message();
}

TEST(EngineConfig, LoadNamesAMissingExplicitFile) {
  auto r = EngineConfig::Load("/nonexistent/hoist.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "/nonexistent/hoist.toml: no such configuration file");
}

}  // namespace
}  // namespace hoist::control
