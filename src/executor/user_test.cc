#include "executor/user.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"

namespace hoist::executor {
namespace {

const std::string kPasswd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "# comment\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "app:x:1000:1001:App:/home/app:/bin/sh\n"
    "broken:x:notanumber:1::/:/bin/sh\n";
const std::string kGroup =
    "root:x:0:\n"
    "wheel:x:10:app,other\n"
    "appgrp:x:1001:\n"
    "audio:x:29:daemon,app\n";

ResolvedUser Resolve(std::string_view user, std::vector<std::string> extra = {}) {
  auto r = ResolveUser(user, extra, kPasswd, kGroup);
  EXPECT_TRUE(r.has_value()) << user << ": " << r.error().message();
  return r ? *r : ResolvedUser{};
}

TEST(ResolveUser, EmptyIsRoot) { EXPECT_EQ(Resolve(""), (ResolvedUser{0, 0, {}})); }

TEST(ResolveUser, NameGivesIdsAndSupplementaryGroups) {
  EXPECT_EQ(Resolve("app"), (ResolvedUser{1000, 1001, {10, 29}}));
  EXPECT_EQ(Resolve("daemon"), (ResolvedUser{1, 1, {29}}));
}

TEST(ResolveUser, NumericUidMatchesEntry) {
  EXPECT_EQ(Resolve("1000"), (ResolvedUser{1000, 1001, {10, 29}}));
}

TEST(ResolveUser, NumericUidWithoutEntry) {
  EXPECT_EQ(Resolve("4242"), (ResolvedUser{4242, 0, {}}));
  EXPECT_EQ(Resolve("4242:4343"), (ResolvedUser{4242, 4343, {}}));
}

TEST(ResolveUser, ExplicitGroupReplacesSupplementary) {
  EXPECT_EQ(Resolve("app:wheel"), (ResolvedUser{1000, 10, {}}));
  EXPECT_EQ(Resolve("app:7"), (ResolvedUser{1000, 7, {}}));
}

TEST(ResolveUser, AdditionalGroups) {
  EXPECT_EQ(Resolve("app:appgrp", {"audio", "55", "audio"}), (ResolvedUser{1000, 1001, {29, 55}}));
}

TEST(ResolveUser, NoFilesNumericOnly) {
  auto r = ResolveUser("12:34", {}, std::nullopt, std::nullopt);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (ResolvedUser{12, 34, {}}));
  r = ResolveUser("app", {}, std::nullopt, std::nullopt);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "unable to find user app: no matching entries in passwd file");
}

TEST(ResolveUser, Errors) {
  auto r = ResolveUser("nobody2", {}, kPasswd, kGroup);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().message(), "unable to find user nobody2: no matching entries in passwd file");
  r = ResolveUser("app:nogroup", {}, kPasswd, kGroup);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "unable to find group nogroup: no matching entries in group file");
  r = ResolveUser("app", {"video"}, kPasswd, kGroup);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "unable to find group video: no matching entries in group file");
  r = ResolveUser("app:", {}, kPasswd, kGroup);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "user \"app:\": empty group after ':'");
  r = ResolveUser("broken", {}, kPasswd, kGroup);
  ASSERT_FALSE(r);
}

TEST(ReadRootfsFile, ReadsAndConfinesSymlinks) {
  auto root = TempDir::Create("hoist-rootfs-");
  ASSERT_TRUE(root);
  auto outside = TempDir::Create("hoist-outside-");
  ASSERT_TRUE(outside);
  WriteTestFile(outside->path() + "/secret", "host secret");
  ASSERT_EQ(::mkdir((root->path() + "/etc").c_str(), 0755), 0);
  WriteTestFile(root->path() + "/etc/passwd", kPasswd);
  // An absolute symlink resolves inside the rootfs, never to the host's file.
  ASSERT_EQ(::symlink((outside->path() + "/secret").c_str(), (root->path() + "/etc/group").c_str()),
            0);
  auto passwd = ReadRootfsFile(root->path(), "etc/passwd");
  ASSERT_TRUE(passwd);
  ASSERT_TRUE(passwd->has_value());
  EXPECT_EQ(**passwd, kPasswd);
  auto group = ReadRootfsFile(root->path(), "etc/group");
  ASSERT_TRUE(group);
  EXPECT_FALSE(group->has_value());
  ASSERT_EQ(::symlink("../../../../../../..", (root->path() + "/up").c_str()), 0);
  auto up = ReadRootfsFile(root->path(), ("up" + outside->path() + "/secret"));
  ASSERT_TRUE(up);
  EXPECT_FALSE(up->has_value());
  auto missing = ReadRootfsFile(root->path() + "/nonexistent", "etc/passwd");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("open rootfs"), std::string::npos);
}

}  // namespace
}  // namespace hoist::executor
