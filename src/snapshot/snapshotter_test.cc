// The Snapshotter conformance suite, run against the overlay, EROFS and native snapshotters.
#include "snapshot/snapshotter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "archive/apply.h"
#include "archive/erofs_writer.h"
#include "archive/tar_reader.h"
#include "archive/testing/test_tar.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "base/unique_fd.h"
#include "snapshot/internal/erofs_mount.h"
#include "snapshot/internal/metadata.h"

namespace hoist::snapshot {
namespace {

using OpenFn = Result<std::unique_ptr<Snapshotter>> (*)(const std::string&);

struct Impl {
  const char* name;
  OpenFn open;
  const char* driver;  // in metadata.json
};

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class SnapshotterTest : public ::testing::TestWithParam<Impl> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "snapshotters need root";
    auto dir = TempDir::Create("snapshotter-test-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
    root_ = dir_.path() + "/root";
    Reopen();
  }

  void Reopen() {
    sn_.reset();
    auto s = GetParam().open(root_);
    ASSERT_TRUE(s) << s.error().message();
    sn_ = std::move(*s);
  }

  // Mounts `mounts` on a fresh directory, runs fn with its path, unmounts.
  void WithMounted(const std::vector<Mount>& mounts, const std::function<void(const std::string&)>& fn) {
    std::string target = dir_.path() + "/mnt" + std::to_string(mount_seq_++);
    ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
    auto m = MountAll(mounts, target);
    ASSERT_TRUE(m) << m.error().message();
    fn(target);
    ASSERT_TRUE(m->Unmount());
  }

  // Prepares `key` on `parent`, lets fn change the tree, commits it as `name`.
  void Layer(const std::string& name, const std::string& parent,
             const std::function<void(const std::string&)>& fn) {
    auto mounts = sn_->Prepare("prep-" + name, parent);
    ASSERT_TRUE(mounts) << mounts.error().message();
    WithMounted(*mounts, fn);
    auto c = sn_->Commit(name, "prep-" + name);
    ASSERT_TRUE(c) << c.error().message();
  }

  // Commits the layer `tar` as `name` on `parent` the way the layer cache does: as an image
  // where the snapshotter offers one, else applied to its writable dir.
  void TarLayer(const std::string& name, const std::string& parent, const std::string& tar) {
    ASSERT_TRUE(sn_->Prepare("extract-" + name, parent));
    auto dir = sn_->Writable("extract-" + name);
    ASSERT_TRUE(dir) << dir.error().message();
    archive::StringByteSource src(tar);
    if (!dir->layer_image.empty()) {
      UniqueFd out(::open(dir->layer_image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      ASSERT_TRUE(out);
      auto w = archive::WriteLayerErofs(src, out.get());
      ASSERT_TRUE(w) << w.error().message();
    } else {
      auto a = archive::ApplyLayer(src, dir->path, {.overlay = dir->overlay_upper});
      ASSERT_TRUE(a) << a.error().message();
    }
    auto c = sn_->Commit(name, "extract-" + name);
    ASSERT_TRUE(c) << c.error().message();
  }

  // Every snapshot, as Walk gives them.
  static std::vector<Info> All(Snapshotter& sn) {
    std::vector<Info> all;
    EXPECT_TRUE(sn.Walk([&](const Info& i) -> Status {
      all.push_back(i);
      return OkStatus();
    }));
    return all;
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<Snapshotter> sn_;
  int mount_seq_ = 0;
};

TEST_P(SnapshotterTest, PrepareWriteCommitStat) {
  auto mounts = sn_->Prepare("a", "", {{"l", "v"}});
  ASSERT_TRUE(mounts) << mounts.error().message();
  auto info = sn_->Stat("a");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->kind, Kind::kActive);
  EXPECT_EQ(info->parent, "");
  EXPECT_EQ(info->labels, (Labels{{"l", "v"}}));
  EXPECT_GT(info->created_ns, 0);
  auto again = sn_->Mounts("a");
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *mounts);
  WithMounted(*mounts, [](const std::string& m) { WriteTestFile(m + "/f", "hello"); });

  ASSERT_TRUE(sn_->Commit("base", "a"));
  auto gone = sn_->Stat("a");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kNotFound);
  EXPECT_EQ(gone.error().message(), "snapshot \"a\": not found");
  info = sn_->Stat("base");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->kind, Kind::kCommitted);
  EXPECT_EQ(info->name, "base");
  EXPECT_EQ(info->labels, (Labels{{"l", "v"}}));

  auto view = sn_->View("v", "base");
  ASSERT_TRUE(view) << view.error().message();
  WithMounted(*view, [](const std::string& m) { EXPECT_EQ(ReadTestFile(m + "/f"), "hello"); });
}

TEST_P(SnapshotterTest, ParentChainsStackAndHideDeletions) {
  Layer("l1", "", [](const std::string& m) {
    WriteTestFile(m + "/one", "1");
    WriteTestFile(m + "/shadowed", "old");
    ASSERT_EQ(::mkdir((m + "/dir").c_str(), 0755), 0);
    WriteTestFile(m + "/dir/inner", "in");
  });
  Layer("l2", "l1", [](const std::string& m) {
    EXPECT_EQ(ReadTestFile(m + "/one"), "1");
    ASSERT_EQ(::unlink((m + "/one").c_str()), 0);
    WriteTestFile(m + "/shadowed", "new");
    WriteTestFile(m + "/two", "2");
  });
  Layer("l3", "l2", [](const std::string& m) {
    ASSERT_EQ(::unlink((m + "/dir/inner").c_str()), 0);
    ASSERT_EQ(::rmdir((m + "/dir").c_str()), 0);
    WriteTestFile(m + "/three", "3");
  });
  auto info = sn_->Stat("l3");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->parent, "l2");

  auto view = sn_->View("v3", "l3");
  ASSERT_TRUE(view) << view.error().message();
  WithMounted(*view, [](const std::string& m) {
    EXPECT_FALSE(Exists(m + "/one"));
    EXPECT_FALSE(Exists(m + "/dir"));
    EXPECT_EQ(ReadTestFile(m + "/shadowed"), "new");
    EXPECT_EQ(ReadTestFile(m + "/two"), "2");
    EXPECT_EQ(ReadTestFile(m + "/three"), "3");
  });
  // The lower snapshots are unchanged by their children.
  auto v1 = sn_->View("v1", "l1");
  ASSERT_TRUE(v1);
  WithMounted(*v1, [](const std::string& m) {
    EXPECT_EQ(ReadTestFile(m + "/one"), "1");
    EXPECT_EQ(ReadTestFile(m + "/shadowed"), "old");
    EXPECT_EQ(ReadTestFile(m + "/dir/inner"), "in");
    EXPECT_FALSE(Exists(m + "/two"));
  });
  // Two active snapshots on one parent do not see each other.
  auto a = sn_->Prepare("a", "l3");
  auto b = sn_->Prepare("b", "l3");
  ASSERT_TRUE(a && b);
  WithMounted(*a, [](const std::string& m) { WriteTestFile(m + "/only-a", "a"); });
  WithMounted(*b, [](const std::string& m) { EXPECT_FALSE(Exists(m + "/only-a")); });
}

TEST_P(SnapshotterTest, ViewsAreReadOnly) {
  Layer("base", "", [](const std::string& m) { WriteTestFile(m + "/f", "x"); });
  Layer("top", "base", [](const std::string& m) { WriteTestFile(m + "/g", "y"); });
  for (const char* parent : {"", "base", "top"}) {
    std::string key = std::string("view-") + parent;
    auto view = sn_->View(key, parent);
    ASSERT_TRUE(view) << view.error().message();
    WithMounted(*view, [](const std::string& m) {
      int fd = ::open((m + "/new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      EXPECT_EQ(fd, -1);
      EXPECT_EQ(errno, EROFS);
      if (fd >= 0) ::close(fd);
    });
    auto info = sn_->Stat(key);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->kind, Kind::kView);
    auto c = sn_->Commit("from-view", key);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code(), Code::kFailedPrecondition);
    EXPECT_EQ(c.error().message(), "snapshot \"" + key +
                                       "\": is view, not active; only active snapshots can be "
                                       "committed");
    auto w = sn_->Writable(key);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code(), Code::kFailedPrecondition);
    EXPECT_EQ(w.error().message(), "snapshot \"" + key + "\": is view, not active; it cannot be written");
  }
}

TEST_P(SnapshotterTest, ErrorsNameTheKey) {
  Layer("base", "", [](const std::string&) {});
  ASSERT_TRUE(sn_->Prepare("active", "base"));

  auto dup = sn_->Prepare("active", "base");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.error().message(), "snapshot \"active\": already exists");
  auto dup_view = sn_->View("base", "");
  ASSERT_FALSE(dup_view);
  EXPECT_EQ(dup_view.error().code(), Code::kAlreadyExists);

  auto no_parent = sn_->Prepare("x", "missing");
  ASSERT_FALSE(no_parent);
  EXPECT_EQ(no_parent.error().code(), Code::kNotFound);
  EXPECT_EQ(no_parent.error().message(), "parent \"missing\" of snapshot \"x\": not found");

  auto active_parent = sn_->Prepare("x", "active");
  ASSERT_FALSE(active_parent);
  EXPECT_EQ(active_parent.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(active_parent.error().message(),
            "parent \"active\" of snapshot \"x\": is active, not committed");
  EXPECT_EQ(sn_->Stat("x").error().code(), Code::kNotFound);

  auto committed_mounts = sn_->Mounts("base");
  ASSERT_FALSE(committed_mounts);
  EXPECT_EQ(committed_mounts.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(committed_mounts.error().message(),
            "snapshot \"base\": is committed; mount it through a View or Prepare");

  auto commit_taken = sn_->Commit("base", "active");
  ASSERT_FALSE(commit_taken);
  EXPECT_EQ(commit_taken.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(commit_taken.error().message(), "snapshot \"base\": already exists");
  EXPECT_EQ(sn_->Stat("active")->kind, Kind::kActive);  // unchanged

  auto commit_committed = sn_->Commit("other", "base");
  ASSERT_FALSE(commit_committed);
  EXPECT_EQ(commit_committed.error().code(), Code::kFailedPrecondition);

  auto commit_missing = sn_->Commit("other", "nope");
  ASSERT_FALSE(commit_missing);
  EXPECT_EQ(commit_missing.error().message(), "snapshot \"nope\": not found");

  auto remove_missing = sn_->Remove("nope");
  ASSERT_FALSE(remove_missing);
  EXPECT_EQ(remove_missing.error().code(), Code::kNotFound);
  EXPECT_EQ(sn_->Mounts("nope").error().code(), Code::kNotFound);
  EXPECT_EQ(sn_->GetUsage("nope").error().code(), Code::kNotFound);

  auto empty = sn_->Prepare("", "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(empty.error().message(), "snapshot key is empty");
  auto empty_name = sn_->Commit("", "active");
  ASSERT_FALSE(empty_name);
  EXPECT_EQ(empty_name.error().code(), Code::kInvalidArgument);
}

TEST_P(SnapshotterTest, ParentsWithChildrenCannotBeRemoved) {
  Layer("base", "", [](const std::string& m) { WriteTestFile(m + "/f", "x"); });
  Layer("mid", "base", [](const std::string&) {});
  ASSERT_TRUE(sn_->View("view", "mid"));
  ASSERT_TRUE(sn_->Prepare("act", "mid"));

  auto r = sn_->Remove("mid");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.error().message(), "snapshot \"mid\": has 2 children; remove them first");
  r = sn_->Remove("base");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "snapshot \"base\": has 1 child; remove them first");

  ASSERT_TRUE(sn_->Remove("view"));
  ASSERT_TRUE(sn_->Remove("act"));
  ASSERT_TRUE(sn_->Remove("mid"));
  ASSERT_TRUE(sn_->Remove("base"));
  int count = 0;
  ASSERT_TRUE(sn_->Walk([&](const Info&) -> Status {
    ++count;
    return OkStatus();
  }));
  EXPECT_EQ(count, 0);
  auto left = PosixFileSystem()->ListDir(root_ + "/snapshots");
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty()) << left->size() << " snapshot dirs left";
}

TEST_P(SnapshotterTest, WalkVisitsInKeyOrderAndStopsAtAnError) {
  Layer("b-base", "", [](const std::string&) {});
  ASSERT_TRUE(sn_->Prepare("a-active", "b-base", {{"k", "v"}}));
  ASSERT_TRUE(sn_->View("c-view", "b-base"));
  const std::vector<Info> seen = All(*sn_);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].name, "a-active");
  EXPECT_EQ(seen[0].kind, Kind::kActive);
  EXPECT_EQ(seen[0].parent, "b-base");
  EXPECT_EQ(seen[0].labels, (Labels{{"k", "v"}}));
  EXPECT_EQ(seen[1].name, "b-base");
  EXPECT_EQ(seen[1].kind, Kind::kCommitted);
  EXPECT_EQ(seen[2].name, "c-view");
  EXPECT_EQ(seen[2].kind, Kind::kView);

  int calls = 0;
  auto s = sn_->Walk([&](const Info&) -> Status {
    ++calls;
    return MakeError(Code::kAborted, "stop");
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message(), "stop");
  EXPECT_EQ(calls, 1);
}

TEST_P(SnapshotterTest, UsageCountsBytesAndInodes) {
  auto mounts = sn_->Prepare("a", "");
  ASSERT_TRUE(mounts);
  auto before = sn_->GetUsage("a");
  ASSERT_TRUE(before) << before.error().message();
  EXPECT_EQ(before->inodes, 1);  // the root
  WithMounted(*mounts, [](const std::string& m) {
    WriteTestFile(m + "/big", std::string(1 << 20, 'x'));
    ASSERT_EQ(::link((m + "/big").c_str(), (m + "/big-link").c_str()), 0);
    ASSERT_EQ(::mkdir((m + "/d").c_str(), 0755), 0);
  });
  auto after = sn_->GetUsage("a");
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->inodes, 3);  // root, big (once for both names), d
  EXPECT_GE(after->size, 1 << 20);
  EXPECT_LT(after->size, 2 << 20);  // the hard link is counted once
}

TEST_P(SnapshotterTest, PreparedTreesKeepLinksXattrsAndSpecialFiles) {
  Layer("base", "", [](const std::string& m) {
    WriteTestFile(m + "/file", "data");
    ASSERT_EQ(::link((m + "/file").c_str(), (m + "/link").c_str()), 0);
    ASSERT_EQ(::symlink("file", (m + "/sym").c_str()), 0);
    ASSERT_EQ(::mkfifo((m + "/fifo").c_str(), 0640), 0);
    ASSERT_EQ(::mknod((m + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    ASSERT_EQ(::setxattr((m + "/file").c_str(), "user.k", "v", 1, 0), 0);
    ASSERT_EQ(::chown((m + "/file").c_str(), 1234, 5678), 0);
    ASSERT_EQ(::chmod((m + "/file").c_str(), 04751), 0);
  });
  auto mounts = sn_->Prepare("child", "base");
  ASSERT_TRUE(mounts) << mounts.error().message();
  WithMounted(*mounts, [](const std::string& m) {
    struct stat a, b, st;
    ASSERT_EQ(::lstat((m + "/file").c_str(), &a), 0);
    ASSERT_EQ(::lstat((m + "/link").c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino);
    EXPECT_EQ(a.st_nlink, 2u);
    EXPECT_EQ(a.st_uid, 1234u);
    EXPECT_EQ(a.st_gid, 5678u);
    EXPECT_EQ(a.st_mode & 07777, 04751u);
    char v[8] = {};
    EXPECT_EQ(::getxattr((m + "/file").c_str(), "user.k", v, sizeof(v)), 1);
    EXPECT_EQ(std::string(v), "v");
    char target[16] = {};
    EXPECT_EQ(::readlink((m + "/sym").c_str(), target, sizeof(target)), 4);
    EXPECT_EQ(std::string(target), "file");
    ASSERT_EQ(::lstat((m + "/fifo").c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0640u);
    ASSERT_EQ(::lstat((m + "/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
  });
}

TEST_P(SnapshotterTest, StatePersistsAcrossReopen) {
  Layer("base", "", [](const std::string& m) { WriteTestFile(m + "/f", "kept"); });
  ASSERT_TRUE(sn_->Prepare("act", "base", {{"a", "b"}}));
  ASSERT_TRUE(sn_->View("view", "base"));
  const std::vector<Info> before = All(*sn_);

  // A second snapshotter on the root (as another process opens it) sees the same snapshots,
  // and each sees what the other changes.
  {
    auto second = GetParam().open(root_);
    ASSERT_TRUE(second) << second.error().message();
    const std::vector<Info> seen = All(**second);
    EXPECT_EQ(seen, before);
    ASSERT_TRUE((*second)->View("other-view", "base"));
    auto st = sn_->Stat("other-view");
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(st->kind, Kind::kView);
    ASSERT_TRUE(sn_->Remove("other-view"));
    auto gone = (*second)->Stat("other-view");
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code(), Code::kNotFound);
    // IDs stay unique across the two.
    ASSERT_TRUE((*second)->View("v2", "base"));
    ASSERT_TRUE(sn_->View("v1", "base"));
    ASSERT_TRUE((*second)->Remove("v2"));
    ASSERT_TRUE(sn_->Remove("v1"));
  }

  Reopen();
  const std::vector<Info> after = All(*sn_);
  EXPECT_EQ(after, before);
  auto mounts = sn_->Mounts("act");
  ASSERT_TRUE(mounts) << mounts.error().message();
  WithMounted(*mounts, [](const std::string& m) { EXPECT_EQ(ReadTestFile(m + "/f"), "kept"); });
  // IDs are not reused after a reopen.
  ASSERT_TRUE(sn_->Prepare("new", "base"));
  ASSERT_TRUE(sn_->Commit("new-c", "new"));
  auto v = sn_->View("v2", "new-c");
  ASSERT_TRUE(v);
  WithMounted(*v, [](const std::string& m) { EXPECT_EQ(ReadTestFile(m + "/f"), "kept"); });
}

TEST_P(SnapshotterTest, ReopenRemovesWhatACrashLeft) {
  Layer("base", "", [](const std::string& m) { WriteTestFile(m + "/f", "x"); });
  ASSERT_TRUE(sn_->Prepare("act", "base"));
  sn_.reset();
  // A Prepare that died after making its directory, and a metadata write that died before
  // its rename.
  ASSERT_EQ(::mkdir((root_ + "/snapshots/77").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((root_ + "/snapshots/77/fs").c_str(), 0700), 0);
  WriteTestFile(root_ + "/snapshots/77/fs/partial", "p");
  WriteTestFile(root_ + "/.metadata.json.tmp-1-2", "{\"trunc");
  Reopen();
  EXPECT_FALSE(Exists(root_ + "/snapshots/77"));
  EXPECT_FALSE(Exists(root_ + "/.metadata.json.tmp-1-2"));
  EXPECT_EQ(sn_->Stat("base")->kind, Kind::kCommitted);
  EXPECT_EQ(sn_->Stat("act")->kind, Kind::kActive);
  auto list = PosixFileSystem()->ListDir(root_ + "/snapshots");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 2u);
}

// A change appends one line to the journal however many snapshots there are; the journal is
// folded into metadata.json when it grows long, and when the root is opened alone.
TEST_P(SnapshotterTest, ChangesAreJournaledAndFoldedIn) {
  const std::string meta = root_ + "/metadata.json";
  const std::string journal = root_ + "/metadata.journal";
  ASSERT_TRUE(Exists(meta));  // a new root names its driver at once
  const std::string empty = ReadTestFile(meta);
  Layer("base", "", [](const std::string& m) { WriteTestFile(m + "/f", "x"); });
  for (int i = 0; i < 140; ++i) {
    ASSERT_TRUE(sn_->View("v" + std::to_string(i), "base"));
  }
  EXPECT_EQ(ReadTestFile(meta), empty);
  const std::string lines = ReadTestFile(journal);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 142);  // prepare, commit, 140 views
  // Each line is one change, whole.
  const std::string first = lines.substr(0, lines.find('\n'));
  EXPECT_NE(first.find(R"("put":[{)"), std::string::npos) << first;
  EXPECT_NE(first.find(R"("key":"prep-base")"), std::string::npos) << first;

  // Another snapshotter on the root reads the journal over metadata.json.
  {
    auto second = GetParam().open(root_);
    ASSERT_TRUE(second) << second.error().message();
    auto v = (*second)->Stat("v139");
    ASSERT_TRUE(v) << v.error().message();
    EXPECT_EQ(v->kind, Kind::kView);
    ASSERT_TRUE((*second)->Remove("v139"));
    EXPECT_FALSE(sn_->Stat("v139"));
  }
  // Opened alone with a long journal: folded in.
  Reopen();
  EXPECT_TRUE(ReadTestFile(journal).empty());
  const std::string folded = ReadTestFile(meta);
  EXPECT_NE(folded.find("\"v138\""), std::string::npos);
  EXPECT_EQ(folded.find("\"v139\""), std::string::npos);
  EXPECT_NE(folded.find("\"version\": 3"), std::string::npos);

  // Past the limit, a change folds the journal in too, and the other snapshotter follows.
  auto second = GetParam().open(root_);
  ASSERT_TRUE(second) << second.error().message();
  for (int i = 0; i < 600; ++i) {
    ASSERT_TRUE(sn_->View("w" + std::to_string(i), "base"));
    ASSERT_TRUE(sn_->Remove("w" + std::to_string(i)));
  }
  const std::string rest = ReadTestFile(journal);
  EXPECT_EQ(std::count(rest.begin(), rest.end(), '\n'), 1200 - 2 * 512);
  EXPECT_EQ(ReadTestFile(meta).find("\"w"), std::string::npos);  // folded in at an even count
  ASSERT_TRUE((*second)->View("after", "base"));
  EXPECT_EQ(sn_->Stat("after")->kind, Kind::kView);
  EXPECT_FALSE((*second)->Stat("w599"));
  EXPECT_EQ((*second)->Stat("v0")->kind, Kind::kView);
}

// Folding the journal in writes metadata.json before it empties the journal: a crash in
// between leaves lines that metadata.json already holds, and reading them again changes nothing.
TEST_P(SnapshotterTest, JournalLinesThatMetadataJsonHoldsChangeNothing) {
  Layer("base", "", [](const std::string& m) { WriteTestFile(m + "/f", "x"); });
  ASSERT_TRUE(sn_->Prepare("act", "base"));
  ASSERT_TRUE(sn_->View("gone", "base"));
  ASSERT_TRUE(sn_->Remove("gone"));
  ASSERT_TRUE(sn_->Commit("done", "act"));
  ASSERT_TRUE(sn_->View("v", "done"));
  const std::vector<Info> before = All(*sn_);
  sn_.reset();
  auto now = internal::LoadCurrentMetadata(root_, GetParam().driver);
  ASSERT_TRUE(now) << now.error().message();
  ASSERT_TRUE(internal::SaveMetadata(root_ + "/metadata.json", *now));
  ASSERT_FALSE(ReadTestFile(root_ + "/metadata.journal").empty());
  Reopen();
  const std::vector<Info> after = All(*sn_);
  EXPECT_EQ(after, before);
  EXPECT_FALSE(sn_->Stat("gone"));
  EXPECT_FALSE(sn_->Stat("act"));
  // And IDs go on from where they were.
  ASSERT_TRUE(sn_->View("w", "done"));
  auto again = internal::LoadCurrentMetadata(root_, GetParam().driver);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_GT(again->snapshots.at("w").id, again->snapshots.at("v").id);
}

// A line a crash cut short is ignored and cut off; a whole line that is not a change is
// refused, naming the line.
TEST_P(SnapshotterTest, ATornJournalLineIsCutOffAndABadOneRefused) {
  const std::string journal = root_ + "/metadata.journal";
  Layer("base", "", [](const std::string& m) { WriteTestFile(m + "/f", "x"); });
  ASSERT_TRUE(sn_->Prepare("act", "base"));
  std::string kept = ReadTestFile(journal);
  // Another process, appending when it was killed, and this one still running.
  {
    UniqueFd fd(::open(journal.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(fd);
    const std::string torn = R"({"del":["act"],"put":[{"key":"torn-marker)";
    ASSERT_EQ(::write(fd.get(), torn.data(), torn.size()), static_cast<ssize_t>(torn.size()));
  }
  auto second = GetParam().open(root_);
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ((*second)->Stat("act")->kind, Kind::kActive);
  ASSERT_TRUE((*second)->View("v", "base"));  // cuts the torn line off first
  EXPECT_EQ(sn_->Stat("v")->kind, Kind::kView);
  const std::string now = ReadTestFile(journal);
  EXPECT_EQ(now.substr(0, kept.size()), kept);
  EXPECT_EQ(now.find("torn-marker"), std::string::npos);
  EXPECT_EQ(now.back(), '\n');
  second->reset();

  sn_.reset();
  WriteTestFile(journal, ReadTestFile(journal) + "{\"del\":\n");
  auto bad = GetParam().open(root_);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kDataLoss);
  EXPECT_EQ(bad.error().message(), journal + ": line 5: not a change (del, put, next_id)");
}

// A root from before the journal is read as it is and rewritten at once, so that the hoists
// that wrote it refuse it rather than miss what the journal holds.
TEST_P(SnapshotterTest, AVersion2RootIsRewrittenBeforeItsFirstJournalLine) {
  sn_.reset();
  ASSERT_EQ(::mkdir((root_ + "/snapshots/1").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((root_ + "/snapshots/1/fs").c_str(), 0700), 0);
  WriteTestFile(root_ + "/snapshots/1/fs/f", "old");
  WriteTestFile(root_ + "/metadata.json",
                std::string(R"({"format":"hoist.snapshots","version":2,"driver":")") +
                    GetParam().driver +
                    R"(","next_id":2,"snapshots":[{"key":"old","id":1,"kind":"committed"}]})");
  ::unlink((root_ + "/metadata.journal").c_str());
  Reopen();
  EXPECT_NE(ReadTestFile(root_ + "/metadata.json").find("\"version\": 3"), std::string::npos);
  auto v = sn_->View("v", "old");
  ASSERT_TRUE(v) << v.error().message();
  WithMounted(*v, [](const std::string& m) { EXPECT_EQ(ReadTestFile(m + "/f"), "old"); });
}

TEST_P(SnapshotterTest, BadMetadataIsRefused) {
  sn_.reset();
  const std::string path = root_ + "/metadata.json";
  struct Case {
    std::string text;
    Code code;
    std::string message;
  };
  std::string driver = GetParam().driver;
  std::string other = driver == "overlay" ? "native" : "overlay";
  const Case cases[] = {
      {"{not json", Code::kDataLoss, path + ": not valid JSON"},
      {R"({"format":"hoist.snapshots","version":4,"driver":")" + driver + R"("})",
       Code::kFailedPrecondition,
       path + ": format version 4 is not supported (this hoist reads versions up to 3)"},
      {R"({"format":"hoist.snapshots","version":2,"driver":")" + driver +
           R"(","next_id":2,"snapshots":[{"key":"k","id":1,"kind":"active","tree":"erofs"}]})",
       Code::kDataLoss,
       path + ": snapshots[0]: bad tree (only committed snapshots may be \"erofs\", only "
              "active ones \"memory\")"},
      {R"({"format":"hoist.snapshots","version":1,"driver":")" + other +
           R"(","next_id":1,"snapshots":[]})",
       Code::kFailedPrecondition,
       path + ": written by the " + other + " snapshotter, opened as " + driver},
      {R"({"format":"hoist.snapshots","version":1,"driver":")" + driver +
           R"(","next_id":2,"snapshots":[{"key":"k","id":1,"kind":"active","parent":"p"}]})",
       Code::kDataLoss, path + ": snapshot \"k\": parent \"p\" is not a committed snapshot"},
      {R"({"format":"hoist.snapshots","version":1,"driver":")" + driver +
           R"(","next_id":2,"snapshots":[{"key":"k","id":5,"kind":"active"}]})",
       Code::kDataLoss, path + ": snapshots[0]: id 5 is outside 1..1"},
      {R"({"format":"hoist.snapshots","version":1,"driver":")" + driver +
           R"(","next_id":2,"snapshots":[{"key":"k","id":1,"kind":"odd"}]})",
       Code::kDataLoss, path + ": snapshots[0]: unknown kind \"odd\""},
      {R"({"format":"hoist.snapshots","version":1,"driver":")" + driver +
           R"(","next_id":2,"snapshots":[{"key":"k","id":1,"kind":"active"}]})",
       Code::kDataLoss, "snapshot \"k\": directory " + root_ + "/snapshots/1/fs is missing"},
  };
  for (const Case& c : cases) {
    WriteTestFile(path, c.text);
    auto s = GetParam().open(root_);
    ASSERT_FALSE(s) << c.text;
    EXPECT_EQ(s.error().code(), c.code) << c.text;
    EXPECT_EQ(s.error().message(), c.message);
  }
}

TEST_P(SnapshotterTest, WriteDiffListsTheChangesAgainstTheParent) {
  Layer("base", "", [](const std::string& m) {
    WriteTestFile(m + "/keep", "k");
    WriteTestFile(m + "/gone", "g");
    WriteTestFile(m + "/changed", "old");
  });
  auto mounts = sn_->Prepare("act", "base");
  ASSERT_TRUE(mounts);
  WithMounted(*mounts, [](const std::string& m) {
    ASSERT_EQ(::unlink((m + "/gone").c_str()), 0);
    WriteTestFile(m + "/changed", "new!");
    WriteTestFile(m + "/added", "a");
  });
  std::string tar;
  archive::StringByteSink sink(&tar);
  archive::TarWriter writer(&sink);
  auto s = sn_->WriteDiff("act", &writer);
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_TRUE(writer.Close());
  archive::StringByteSource src(tar);
  archive::TarReader reader(&src);
  std::vector<std::string> names;
  for (;;) {
    auto e = reader.Next();
    ASSERT_TRUE(e) << e.error().message();
    if (!*e) break;
    names.push_back((*e)->name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"added", "changed", ".wh.gone"}));

  auto view = sn_->View("v", "base");
  ASSERT_TRUE(view);
  auto d = sn_->WriteDiff("v", &writer);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(d.error().message(), "snapshot \"v\": is a view; it has no changes to diff");
}

TEST_P(SnapshotterTest, LayersStackWhetherImagesOrDirectories) {
  using archive::testing::TestTar;
  TarLayer("l1", "",
           TestTar().Dir("etc").File("etc/conf", "one").Dir("opq").File("opq/old", "o")
               .File("gone", "g").Symlink("link", "etc/conf").Hardlink("etc/conf2", "etc/conf")
               .Finish());
  TarLayer("l2", "l1",
           TestTar().File(".wh.gone", "").File("opq/.wh..wh..opq", "").File("opq/new", "n")
               .File("etc/conf", "two").Finish());
  auto view = sn_->View("v", "l2");
  ASSERT_TRUE(view) << view.error().message();
  WithMounted(*view, [](const std::string& m) {
    EXPECT_FALSE(Exists(m + "/gone"));
    EXPECT_FALSE(Exists(m + "/opq/old"));
    EXPECT_EQ(ReadTestFile(m + "/opq/new"), "n");
    EXPECT_EQ(ReadTestFile(m + "/etc/conf"), "two");
    EXPECT_EQ(ReadTestFile(m + "/etc/conf2"), "one");
    EXPECT_EQ(ReadTestFile(m + "/link"), "two");
  });
  // A child on top writes over the stack as over any other parent.
  auto mounts = sn_->Prepare("act", "l2");
  ASSERT_TRUE(mounts) << mounts.error().message();
  WithMounted(*mounts, [](const std::string& m) {
    EXPECT_EQ(ReadTestFile(m + "/etc/conf"), "two");
    ASSERT_EQ(::unlink((m + "/etc/conf2").c_str()), 0);
    WriteTestFile(m + "/added", "a");
  });
  std::string tar;
  archive::StringByteSink sink(&tar);
  archive::TarWriter writer(&sink);
  ASSERT_TRUE(sn_->WriteDiff("act", &writer));
  ASSERT_TRUE(writer.Close());
  EXPECT_NE(tar.find(".wh.conf2"), std::string::npos);
  // The layer's own diff reads back what the layer holds, whiteouts as whiteouts.
  std::string layer;
  archive::StringByteSink layer_sink(&layer);
  archive::TarWriter layer_writer(&layer_sink);
  auto d = sn_->WriteDiff("l2", &layer_writer);
  ASSERT_TRUE(d) << d.error().message();
  ASSERT_TRUE(layer_writer.Close());
  EXPECT_NE(layer.find(".wh.gone"), std::string::npos);
  // Overlay-based trees keep the opaque marker; the native one, diffing two full trees, lists
  // what the marker hid.
  EXPECT_TRUE(layer.find(".wh..wh..opq") != std::string::npos ||
              layer.find("opq/.wh.old") != std::string::npos);
  // Removing takes the trees away, mounted or not, and state survives a reopen.
  ASSERT_TRUE(sn_->Remove("act"));
  ASSERT_TRUE(sn_->Remove("v"));
  Reopen();
  auto again = sn_->View("v2", "l2");
  ASSERT_TRUE(again) << again.error().message();
  WithMounted(*again, [](const std::string& m) { EXPECT_EQ(ReadTestFile(m + "/opq/new"), "n"); });
  ASSERT_TRUE(sn_->Remove("v2"));
  ASSERT_TRUE(sn_->Remove("l2"));
  ASSERT_TRUE(sn_->Remove("l1"));
  auto list = PosixFileSystem()->ListDir(root_ + "/snapshots");
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

TEST_P(SnapshotterTest, PrepareLayerCommitsWhatPrepareWould) {
  Layer("base", "", [](const std::string& m) {
    WriteTestFile(m + "/keep", "k");
    WriteTestFile(m + "/gone", "g");
    ASSERT_EQ(::mkdir((m + "/dir").c_str(), 0755), 0);
    WriteTestFile(m + "/dir/old", "o");
  });
  // The same changes through Prepare and through PrepareLayer.
  auto change = [](const std::string& m) {
    ASSERT_EQ(::unlink((m + "/gone").c_str()), 0);
    ASSERT_EQ(::unlink((m + "/dir/old").c_str()), 0);
    ASSERT_EQ(::rmdir((m + "/dir").c_str()), 0);
    ASSERT_EQ(::mkdir((m + "/dir").c_str(), 0700), 0);
    WriteTestFile(m + "/dir/new", "n");
    WriteTestFile(m + "/big", std::string(100000, 'x'));
    ASSERT_EQ(::link((m + "/big").c_str(), (m + "/big2").c_str()), 0);
    ASSERT_EQ(::symlink("keep", (m + "/ln").c_str()), 0);
    ASSERT_EQ(::setxattr((m + "/big").c_str(), "user.k", "v", 1, 0), 0);
  };
  auto diff = [&](const std::string& key) {
    std::string tar;
    archive::StringByteSink sink(&tar);
    archive::TarWriter writer(&sink);
    auto s = sn_->WriteDiff(key, &writer);
    EXPECT_TRUE(s) << s.error().message();
    EXPECT_TRUE(writer.Close());
    std::vector<std::string> names;
    archive::StringByteSource src(tar);
    archive::TarReader reader(&src);
    for (;;) {
      auto e = reader.Next();
      if (!e || !*e) break;
      names.push_back((*e)->name + " " + std::to_string((*e)->mode) + " " +
                      std::string(archive::TarEntryTypeName((*e)->type)) + " " +
                      (*e)->linkname + " " + std::to_string((*e)->xattrs.size()));
    }
    return names;
  };
  auto a = sn_->Prepare("plain", "base");
  ASSERT_TRUE(a) << a.error().message();
  WithMounted(*a, change);
  auto b = sn_->PrepareLayer("layer", "base");
  ASSERT_TRUE(b) << b.error().message();
  WithMounted(*b, change);
  ASSERT_TRUE(sn_->Commit("plain-c", "plain"));
  auto c = sn_->Commit("layer-c", "layer");
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(diff("layer-c"), diff("plain-c"));
  EXPECT_FALSE(diff("layer-c").empty());
  auto view = sn_->View("v", "layer-c");
  ASSERT_TRUE(view) << view.error().message();
  WithMounted(*view, [](const std::string& m) {
    EXPECT_FALSE(Exists(m + "/gone"));
    EXPECT_FALSE(Exists(m + "/dir/old"));
    EXPECT_EQ(ReadTestFile(m + "/dir/new"), "n");
    EXPECT_EQ(ReadTestFile(m + "/big2").size(), 100000u);
    EXPECT_EQ(ReadTestFile(m + "/ln"), "k");
  });
  // A layer removed before its commit leaves nothing behind, in memory or on disk.
  ASSERT_TRUE(sn_->PrepareLayer("dropped", "base"));
  ASSERT_TRUE(sn_->Remove("dropped"));
  Reopen();
  auto again = sn_->View("v2", "layer-c");
  ASSERT_TRUE(again) << again.error().message();
  WithMounted(*again, [](const std::string& m) { EXPECT_EQ(ReadTestFile(m + "/dir/new"), "n"); });
}

INSTANTIATE_TEST_SUITE_P(Both, SnapshotterTest,
                         ::testing::Values(Impl{"overlay", &OpenOverlaySnapshotter, "overlay"},
                                           Impl{"erofs", &OpenErofsSnapshotter, "overlay"},
                                           Impl{"native", &OpenNativeSnapshotter, "native"}),
                         [](const auto& info) { return std::string(info.param.name); });

// The EROFS snapshotter alone: what it leaves on disk, and the mounts a crash leaves behind.
class ErofsSnapshotterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "snapshotters need root";
    auto dir = TempDir::Create("erofs-snapshotter-test-");
    ASSERT_TRUE(dir) << dir.error().message();
    dir_ = std::move(*dir);
    root_ = dir_.path() + "/root";
  }
  TempDir dir_;
  std::string root_;
};

TEST_F(ErofsSnapshotterTest, ImagesAreDetachedOnCloseAndAfterACrash) {
  auto probe = ProbeErofs(dir_.path());
  ASSERT_TRUE(probe) << probe.error().message();
  auto sn = OpenErofsSnapshotter(root_);
  ASSERT_TRUE(sn) << sn.error().message();
  ASSERT_TRUE((*sn)->Prepare("x", ""));
  auto dir = (*sn)->Writable("x");
  ASSERT_TRUE(dir);
  ASSERT_FALSE(dir->layer_image.empty());
  {
    archive::StringByteSource src(archive::testing::TestTar().File("f", "x").Finish());
    UniqueFd out(::open(dir->layer_image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(out);
    ASSERT_TRUE(archive::WriteLayerErofs(src, out.get()));
  }
  ASSERT_TRUE((*sn)->Commit("base", "x"));
  const std::string fs = root_ + "/snapshots/1/fs";
  ASSERT_TRUE((*sn)->View("v", "base"));
  struct stat a, b;
  ASSERT_EQ(::stat(fs.c_str(), &a), 0);
  ASSERT_EQ(::stat((root_ + "/snapshots/1").c_str(), &b), 0);
  EXPECT_NE(a.st_dev, b.st_dev) << "the image is mounted on its fs";
  sn->reset();
  ASSERT_EQ(::stat(fs.c_str(), &a), 0);
  EXPECT_EQ(a.st_dev, b.st_dev) << "closing detaches it";
  // A crashed process leaves the image mounted; the next open detaches it.
  ASSERT_EQ(::mount((root_ + "/snapshots/1/layer.erofs").c_str(), fs.c_str(), "erofs", MS_RDONLY,
                    nullptr), 0);
  auto reopened = OpenErofsSnapshotter(root_);
  ASSERT_TRUE(reopened) << reopened.error().message();
  ASSERT_EQ(::stat(fs.c_str(), &a), 0);
  EXPECT_EQ(a.st_dev, b.st_dev);
  ASSERT_TRUE((*reopened)->Remove("v"));
  ASSERT_TRUE((*reopened)->Remove("base"));
  // Without erofs_layers, no image is offered (and images already there still mount).
  reopened->reset();
  auto plain = OpenOverlaySnapshotter(root_);
  ASSERT_TRUE(plain);
  ASSERT_TRUE((*plain)->Prepare("y", ""));
  EXPECT_TRUE((*plain)->Writable("y")->layer_image.empty());
}

TEST_F(ErofsSnapshotterTest, InMemoryLayersAreImagesOnceCommittedAndBoundedInSize) {
  auto sn = OpenOverlaySnapshotter(root_, {.erofs_layers = true, .memory_limit = 1 << 20});
  ASSERT_TRUE(sn) << sn.error().message();
  auto mounts = (*sn)->PrepareLayer("small", "");
  ASSERT_TRUE(mounts) << mounts.error().message();
  const std::string target = dir_.path() + "/mnt";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  {
    auto m = MountAll(*mounts, target);
    ASSERT_TRUE(m) << m.error().message();
    WriteTestFile(target + "/f", "in memory");
  }
  // The changes are on the tmpfs, not in the snapshot's own directory.
  auto list = PosixFileSystem()->ListDir(root_ + "/snapshots/1/fs");
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
  ASSERT_TRUE((*sn)->Commit("small-c", "small"));
  struct stat st;
  EXPECT_EQ(::stat((root_ + "/snapshots/1/layer.erofs").c_str(), &st), 0);
  EXPECT_NE(::stat((root_ + "/snapshots/1/mem").c_str(), &st), 0) << "the tmpfs is gone";
  EXPECT_EQ((*sn)->GetUsage("small-c")->inodes, 1);

  // Past the limit, writes fail with ENOSPC (the caller's cue to prepare on disk).
  auto big = (*sn)->PrepareLayer("big", "small-c");
  ASSERT_TRUE(big) << big.error().message();
  {
    auto m = MountAll(*big, target);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(ReadTestFile(target + "/f"), "in memory");
    UniqueFd fd(::open((target + "/huge").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
    const std::string chunk(1 << 16, 'x');
    int err = 0;
    for (int i = 0; i < 64 && err == 0; ++i) {
      if (::write(fd.get(), chunk.data(), chunk.size()) < 0) err = errno;
    }
    EXPECT_EQ(err, ENOSPC);
  }
  ASSERT_TRUE((*sn)->Remove("big"));
  EXPECT_NE(::stat((root_ + "/snapshots/2").c_str(), &st), 0);
}

TEST_F(ErofsSnapshotterTest, APassedProbeIsRememberedForThisBoot) {
  const std::string scratch = dir_.path() + "/scratch";
  ASSERT_EQ(::mkdir(scratch.c_str(), 0700), 0);
  ASSERT_TRUE(ProbeErofs(scratch));
  const std::string record = ReadTestFile(scratch + "/erofs-probe");
  EXPECT_TRUE(record.starts_with("hoist.erofs-probe 1 ")) << record;
  // With the directory read-only, only the record can answer: it does while it names this
  // boot, and a record of another boot sends the probe to the (now impossible) mount.
  auto ro = MountAll({Mount{.type = "bind", .source = scratch, .options = {"bind", "ro"}}},
                     scratch);
  ASSERT_TRUE(ro) << ro.error().message();
  EXPECT_TRUE(ProbeErofs(scratch));
  ASSERT_TRUE(ro->Unmount());
  WriteTestFile(scratch + "/erofs-probe", "hoist.erofs-probe 1 another-boot\n");
  ro = MountAll({Mount{.type = "bind", .source = scratch, .options = {"bind", "ro"}}}, scratch);
  ASSERT_TRUE(ro) << ro.error().message();
  EXPECT_FALSE(ProbeErofs(scratch));
  ASSERT_TRUE(ro->Unmount());
  EXPECT_TRUE(ProbeErofs(scratch));
  EXPECT_EQ(ReadTestFile(scratch + "/erofs-probe"), record);
}

TEST_F(ErofsSnapshotterTest, ImagesMountThroughALoopDeviceWhereFilesCannotBeMounted) {
  const std::string image = dir_.path() + "/layer.erofs";
  const std::string target = dir_.path() + "/mnt";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0);
  {
    archive::StringByteSource src(archive::testing::TestTar().File("f", "looped").Finish());
    UniqueFd out(::open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(out);
    ASSERT_TRUE(archive::WriteLayerErofs(src, out.get()));
  }
  auto m = internal::MountErofs(image, target, {.force_loop_for_testing = true});
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(MountsUnder(target)->size(), 1u);
  EXPECT_EQ(ReadTestFile(target + "/f"), "looped");
  ASSERT_TRUE(internal::DetachMount(target));
  EXPECT_TRUE(MountsUnder(target)->empty());
  // Detaching what is not mounted is no error; a missing image names the mount.
  EXPECT_TRUE(internal::DetachMount(target));
  auto missing = internal::MountErofs(dir_.path() + "/none.erofs", target);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("mount EROFS image on " + target), std::string::npos)
      << missing.error().message();
}

}  // namespace
}  // namespace hoist::snapshot
