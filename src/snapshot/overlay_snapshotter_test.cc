// What only the overlay snapshotter does: the shape of its mounts, its upper dirs, and the
// limits of overlayfs's mount options.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "snapshot/snapshotter.h"

namespace hoist::snapshot {
namespace {

class OverlaySnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "overlayfs needs root";
    auto dir = TempDir::Create("overlay-snapshotter-test-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
    root_ = dir_.path() + "/root";
    auto s = OpenOverlaySnapshotter(root_);
    ASSERT_TRUE(s) << s.error().message();
    sn_ = std::move(*s);
  }
  std::string Fs(int id) { return root_ + "/snapshots/" + std::to_string(id) + "/fs"; }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<Snapshotter> sn_;
};

bool HasOption(const Mount& m, const std::string& o) {
  return std::find(m.options.begin(), m.options.end(), o) != m.options.end();
}

TEST_F(OverlaySnapshotterTest, MountsFollowTheParentChain) {
  auto first = sn_->Prepare("a", "");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].type, "bind");
  EXPECT_EQ((*first)[0].source, Fs(1));
  EXPECT_TRUE(HasOption((*first)[0], "rw"));
  ASSERT_TRUE(sn_->Commit("l1", "a"));
  ASSERT_TRUE(sn_->Prepare("b", "l1"));
  ASSERT_TRUE(sn_->Commit("l2", "b"));

  auto one = sn_->View("v1", "l1");
  ASSERT_TRUE(one);
  EXPECT_EQ((*one)[0].type, "bind");
  EXPECT_EQ((*one)[0].source, Fs(1));
  EXPECT_TRUE(HasOption((*one)[0], "ro"));

  auto two = sn_->View("v2", "l2");
  ASSERT_TRUE(two);
  EXPECT_EQ((*two)[0].type, "overlay");
  EXPECT_TRUE(HasOption((*two)[0], "ro"));
  EXPECT_TRUE(HasOption((*two)[0], "lowerdir=" + Fs(2) + ":" + Fs(1)));

  auto act = sn_->Prepare("c", "l2");
  ASSERT_TRUE(act);
  const Mount& m = (*act)[0];
  EXPECT_EQ(m.type, "overlay");
  EXPECT_TRUE(HasOption(m, "lowerdir=" + Fs(2) + ":" + Fs(1)));
  EXPECT_TRUE(HasOption(m, "upperdir=" + Fs(5)));
  EXPECT_TRUE(HasOption(m, "workdir=" + root_ + "/snapshots/5/work"));
  auto upper = UpperDir(*sn_, "c");
  ASSERT_TRUE(upper) << upper.error().message();
  EXPECT_EQ(*upper, Fs(5));

  // Writes through the mount land in the upper dir, deletions as whiteouts.
  auto target = dir_.path() + "/mnt";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  {
    ASSERT_TRUE(sn_->Commit("l3", "c"));
    ASSERT_TRUE(sn_->Prepare("d", "l3"));
    WriteTestFile(Fs(1) + "/low", "");  // a lower file (l1 is unused by mounts yet)
    auto dm = sn_->Mounts("d");
    ASSERT_TRUE(dm);
    auto mounted = MountAll(*dm, target);
    ASSERT_TRUE(mounted) << mounted.error().message();
    WriteTestFile(target + "/new", "n");
    ASSERT_EQ(::unlink((target + "/low").c_str()), 0);
  }
  auto d_upper = UpperDir(*sn_, "d");
  ASSERT_TRUE(d_upper);
  EXPECT_EQ(ReadTestFile(*d_upper + "/new"), "n");
  struct stat st;
  ASSERT_EQ(::lstat((*d_upper + "/low").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, 0u);
}

TEST_F(OverlaySnapshotterTest, UpperDirIsOnlyForActiveOverlaySnapshots) {
  ASSERT_TRUE(sn_->Prepare("a", ""));
  ASSERT_TRUE(sn_->Commit("c", "a"));
  auto committed = UpperDir(*sn_, "c");
  ASSERT_FALSE(committed);
  EXPECT_EQ(committed.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(committed.error().message(),
            "snapshot \"c\": is committed, not active; it cannot be written");

  auto native_dir = dir_.path() + "/native";
  auto native = OpenNativeSnapshotter(native_dir);
  ASSERT_TRUE(native) << native.error().message();
  ASSERT_TRUE((*native)->Prepare("n", ""));
  auto n = UpperDir(**native, "n");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(n.error().message(),
            "snapshot \"n\": is not an overlay snapshot; it has no upper dir");

  // A root belongs to one implementation.
  native->reset();
  auto wrong = OpenOverlaySnapshotter(native_dir);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(wrong.error().message(), native_dir +
                                         "/metadata.json: written by the native snapshotter, "
                                         "opened as overlay");
}

TEST_F(OverlaySnapshotterTest, DeepChainsMountUpToOverlaysLimit) {
  // Each layer writes its own file straight into its upper dir (no mount needed to build the
  // chain); the 150-layer stack must show all of them, which needs more than the one page of
  // options mount(2) takes when the kernel adds lower dirs one by one.
  std::string parent;
  size_t depth = 0;
  std::string deep_enough;
  for (int i = 0; i < 502; ++i) {
    std::string key = "p" + std::to_string(i), name = "l" + std::to_string(i);
    auto mounts = sn_->Prepare(key, parent);
    if (!mounts) {
      EXPECT_EQ(mounts.error().code(), Code::kResourceExhausted);
      EXPECT_NE(mounts.error().message().find("snapshot \"" + key + "\": "), std::string::npos)
          << mounts.error().message();
      EXPECT_EQ(sn_->Stat(key).error().code(), Code::kNotFound);
      break;
    }
    auto upper = UpperDir(*sn_, key);
    ASSERT_TRUE(upper);
    WriteTestFile(*upper + "/f" + std::to_string(i), std::to_string(i));
    depth = static_cast<size_t>(i);
    if (i < 150) deep_enough = name;
    ASSERT_TRUE(sn_->Commit(name, key));
    parent = name;
  }
  if (OverlayTakesLowerDirsOneByOne()) {
    EXPECT_EQ(depth, 500u) << "overlayfs stacks 500 lower dirs under an active snapshot";
  } else {
    EXPECT_GT(depth, 60u);
    EXPECT_LT(depth, 150u);
  }
  auto deepest = sn_->View("deep", deep_enough);
  ASSERT_TRUE(deepest) << deepest.error().message();
  auto target = dir_.path() + "/deep";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  auto m = MountAll(*deepest, target);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(ReadTestFile(target + "/f0"), "0");
  EXPECT_EQ(ReadTestFile(target + "/f" + std::to_string(depth < 149 ? depth : 149)),
            std::to_string(depth < 149 ? depth : 149));
}

}  // namespace
}  // namespace hoist::snapshot
