#include "base/mount.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "base/temp_dir.h"

namespace hoist {
namespace {

// Whether `path` is a mount point, from /proc/self/mountinfo (a bind mount of a directory on
// the same filesystem keeps its st_dev, so stat cannot tell).
bool IsMountPoint(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    fields >> id >> parent >> dev >> root >> mount_point;
    if (mount_point == path) return true;
  }
  return false;
}

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
    auto dir = TempDir::Create("mount-test-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
  }
  TempDir dir_;
};

TEST_F(MountTest, ReadOnlyBindIsUndoneOnScopeExit) {
  const std::string src = dir_.path() + "/src", dst = dir_.path() + "/dst";
  ASSERT_EQ(::mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(dst.c_str(), 0755), 0);
  std::ofstream(src + "/f") << "x";
  {
    auto m = MountAll({{.type = "bind", .source = src, .options = {"rbind", "ro"}}}, dst);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_TRUE(IsMountPoint(dst));
    EXPECT_EQ(::access((dst + "/f").c_str(), R_OK), 0);
    struct statvfs st;
    ASSERT_EQ(::statvfs(dst.c_str(), &st), 0);
    EXPECT_TRUE(st.f_flag & ST_RDONLY);
  }
  EXPECT_FALSE(IsMountPoint(dst));
}

TEST_F(MountTest, OverlayStacksLowerDirs) {
  for (const char* d : {"/lower1", "/lower2", "/upper", "/work", "/merged"}) {
    ASSERT_EQ(::mkdir((dir_.path() + d).c_str(), 0755), 0);
  }
  std::ofstream(dir_.path() + "/lower1/a") << "1";
  std::ofstream(dir_.path() + "/lower2/a") << "2";
  auto m = MountAll({{.type = "overlay",
                      .source = "overlay",
                      .options = {"lowerdir=" + dir_.path() + "/lower1:" + dir_.path() + "/lower2",
                                  "upperdir=" + dir_.path() + "/upper",
                                  "workdir=" + dir_.path() + "/work"}}},
                    dir_.path() + "/merged");
  ASSERT_TRUE(m) << m.error().message();
  std::string a;
  std::ifstream(dir_.path() + "/merged/a") >> a;
  EXPECT_EQ(a, "1");  // the first lowerdir is the top
  std::ofstream(dir_.path() + "/merged/b") << "new";
  EXPECT_EQ(::access((dir_.path() + "/upper/b").c_str(), F_OK), 0);
  ASSERT_TRUE(m->Unmount());
  EXPECT_FALSE(IsMountPoint(dir_.path() + "/merged"));
}

TEST_F(MountTest, FlagOptionsAreFlagsNotData) {
  auto m = MountAll({{.type = "tmpfs",
                      .source = "tmpfs",
                      .options = {"mode=0700", "nosuid", "nodev", "noexec", "size=1m", "ro"}}},
                    dir_.path());
  ASSERT_TRUE(m) << m.error().message();
  struct statvfs st;
  ASSERT_EQ(::statvfs(dir_.path().c_str(), &st), 0);
  EXPECT_TRUE(st.f_flag & ST_NOSUID);
  EXPECT_TRUE(st.f_flag & ST_NODEV);
  EXPECT_TRUE(st.f_flag & ST_NOEXEC);
  EXPECT_TRUE(st.f_flag & ST_RDONLY);
}

TEST_F(MountTest, FailureNamesTypeAndTarget) {
  auto m = MountAll({{.type = "bind", .source = dir_.path() + "/missing", .options = {"rbind"}}},
                    dir_.path());
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("bind mount on " + dir_.path()), std::string::npos)
      << m.error().message();
}

}  // namespace
}  // namespace hoist
