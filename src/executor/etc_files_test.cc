#include "executor/etc_files.h"

#include <gtest/gtest.h>

namespace hoist::executor {
namespace {

TEST(GenerateHosts, LocalhostHostnameAndExtraHosts) {
  EXPECT_EQ(GenerateHosts("buildkitsandbox", {{"db", "10.0.0.2"}, {"cache.local", "::2"}}),
            "127.0.0.1\tlocalhost buildkitsandbox\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n"
            "10.0.0.2\tdb\n"
            "::2\tcache.local\n");
  EXPECT_EQ(GenerateHosts("", {}),
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
}

TEST(GenerateResolvConf, DropsLoopbackNameserversInOwnNetwork) {
  const char* host =
      "# generated\nnameserver 127.0.0.53\nnameserver 10.255.255.53\n"
      "nameserver ::1\nsearch example.com\noptions edns0 trust-ad\n";
  EXPECT_EQ(GenerateResolvConf(host, false),
            "# generated\nnameserver 10.255.255.53\nsearch example.com\noptions edns0 trust-ad\n");
}

TEST(GenerateResolvConf, FallsBackToPublicResolvers) {
  EXPECT_EQ(GenerateResolvConf("nameserver 127.0.0.53\nsearch lan\n", false),
            "search lan\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  EXPECT_EQ(GenerateResolvConf("", false), "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
}

TEST(GenerateResolvConf, HostNetworkKeepsText) {
  EXPECT_EQ(GenerateResolvConf("nameserver 127.0.0.53", true), "nameserver 127.0.0.53\n");
}

TEST(GenerateHostname, NameAndNewline) { EXPECT_EQ(GenerateHostname("box"), "box\n"); }

}  // namespace
}  // namespace hoist::executor
