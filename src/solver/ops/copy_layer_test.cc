#include "solver/ops/copy_layer.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "archive/byte_source.h"
#include "archive/compression.h"
#include "archive/diff.h"
#include "archive/erofs_writer.h"
#include "archive/tar_reader.h"
#include "archive/tar_writer.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "base/unique_fd.h"

namespace hoist::solver::ops {
namespace {

// An old, whole-second time for every source and parent entry, so that entries the copy
// stamps with the time of the write stand out.
constexpr int64_t kOld = 1000000000;  // 2001-09-09

struct Entry {
  archive::TarEntry h;
  std::string data;
};

std::vector<Entry> ReadTar(const std::string& tar) {
  archive::StringByteSource src(tar);
  archive::TarReader reader(&src);
  std::vector<Entry> out;
  for (;;) {
    auto e = reader.Next();
    EXPECT_TRUE(e) << e.error().message();
    if (!e || !*e) break;
    Entry x{.h = **e, .data = {}};
    if (x.h.type == archive::TarEntryType::kRegular) {
      std::string buf(static_cast<size_t>(x.h.size), '\0');
      size_t got = 0;
      while (got < buf.size()) {
        auto n = reader.Read(buf.data() + got, buf.size() - got);
        EXPECT_TRUE(n);
        if (!n || *n == 0) break;
        got += *n;
      }
      x.data = buf;
    }
    out.push_back(std::move(x));
  }
  return out;
}

std::string Describe(const std::vector<Entry>& es) {
  std::string s;
  for (const Entry& e : es) {
    s += e.h.name + " " + std::string(archive::TarEntryTypeName(e.h.type)) + " " +
         std::to_string(e.h.mode) + " " + std::to_string(e.h.uid) + ":" +
         std::to_string(e.h.gid) + " t=" + std::to_string(e.h.mtime.sec) + " " + e.h.linkname +
         "\n";
  }
  return s;
}

class CopyLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("copy-layer-");
    ASSERT_TRUE(d);
    dir_ = std::move(*d);
    for (const char* sub : {"src", "lower", "upper", "work", "merged"}) {
      ASSERT_EQ(0, ::mkdir(P(sub).c_str(), 0755));
    }
    // A parent with /etc/passwd (for --chown names), an existing directory, and a file.
    MkDir("lower/etc");
    WriteTestFile(P("lower/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
    WriteTestFile(P("lower/etc/group"), "root:x:0:\napp:x:1001:\n");
    MkDir("lower/usr");
    MkDir("lower/usr/local");
    ASSERT_EQ(0, ::chown(P("lower/usr/local").c_str(), 7, 8));
    ASSERT_EQ(0, ::chmod(P("lower/usr/local").c_str(), 0750));
    MkDir("lower/usr/local/share");
    WriteTestFile(P("lower/usr/local/file"), "f");
    ::symlink("usr", P("lower/link").c_str());
    for (const char* p : {"lower/etc/passwd", "lower/etc/group", "lower/etc", "lower/usr/local/share",
                          "lower/usr/local/file", "lower/usr/local", "lower/usr"}) {
      Touch(p);
    }
  }

  std::string P(const std::string& p) const { return dir_.path() + "/" + p; }
  void MkDir(const std::string& p, mode_t mode = 0755) {
    ASSERT_EQ(0, ::mkdir(P(p).c_str(), mode)) << p;
    ASSERT_EQ(0, ::chmod(P(p).c_str(), mode)) << p;
  }
  void Touch(const std::string& p, int64_t sec = kOld) {
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    ASSERT_EQ(0, ::utimensat(AT_FDCWD, P(p).c_str(), ts, AT_SYMLINK_NOFOLLOW)) << p;
  }
  // A source file (its parents made as needed), with an old mtime.
  void Src(const std::string& p, const std::string& data, mode_t mode = 0644) {
    std::filesystem::create_directories(std::filesystem::path(P("src/" + p)).parent_path());
    WriteTestFile(P("src/" + p), data);
    ASSERT_EQ(0, ::chmod(P("src/" + p).c_str(), mode));
    Touch("src/" + p);
  }
  // Gives every source directory the old mtime (after their children were made).
  void TouchSourceDirs() {
    for (auto it = std::filesystem::recursive_directory_iterator(P("src"));
         it != std::filesystem::recursive_directory_iterator(); ++it) {
      if (it->is_directory() && !it->is_symlink()) Touch("src/" + std::filesystem::relative(it->path(), P("src")).string());
    }
    Touch("src");
  }

  // The layer of the copy through an overlay over `lower`, diffed from its upper dir.
  std::vector<Entry> Overlay(const CopyAction& a) {
    std::filesystem::remove_all(P("upper"));
    std::filesystem::remove_all(P("work"));
    ::mkdir(P("upper").c_str(), 0755);
    ::mkdir(P("work").c_str(), 0755);
    const std::string opts = "lowerdir=" + P("lower") + ",upperdir=" + P("upper") + ",workdir=" +
                             P("work") + ",index=off,redirect_dir=off,metacopy=off";
    EXPECT_EQ(0, ::mount("overlay", P("merged").c_str(), "overlay", 0, opts.c_str()))
        << std::strerror(errno);
    auto copied = ApplyCopy(P("src"), P("merged"), a);
    EXPECT_EQ(0, ::umount2(P("merged").c_str(), 0));
    EXPECT_TRUE(copied) << copied.error().message();
    std::string tar;
    archive::StringByteSink sink(&tar);
    archive::TarWriter w(&sink);
    auto diffed = archive::WriteOverlayUpperDiff(P("upper"), &w);
    EXPECT_TRUE(diffed) << diffed.error().message();
    EXPECT_TRUE(w.Close());
    return ReadTar(tar);
  }

  std::unique_ptr<CopyLayer> Plan(const CopyAction& a, std::string* why) {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return CopyLayer::Plan(P("src"), P("lower"), a,
                           {.now_ns = ts.tv_sec * 1000000000 + ts.tv_nsec}, why);
  }

  // The layer written directly; also checks that Stream() gives the same bytes as Write().
  std::vector<Entry> Direct(const CopyAction& a) {
    std::string why;
    auto layer = Plan(a, &why);
    EXPECT_TRUE(layer) << why;
    if (!layer) return {};
    std::string tar;
    archive::StringByteSink sink(&tar);
    archive::TarWriter w(&sink);
    auto written = layer->Write(&w);
    EXPECT_TRUE(written) << written.error().message();
    EXPECT_TRUE(w.Close());
    std::string streamed;
    auto stream = layer->Stream();
    char buf[777];
    for (;;) {
      auto n = stream->Read(buf, sizeof(buf));
      EXPECT_TRUE(n) << n.error().message();
      if (!n || *n == 0) break;
      streamed.append(buf, *n);
    }
    EXPECT_EQ(streamed, tar);
    return ReadTar(tar);
  }

  // The two layers agree entry for entry; mtimes that are the time of the write agree within
  // a few seconds, the others exactly.
  void ExpectSameLayer(const CopyAction& a) {
    const std::vector<Entry> want = Overlay(a);
    const std::vector<Entry> got = Direct(a);
    ASSERT_EQ(got.size(), want.size()) << "overlay:\n" << Describe(want) << "direct:\n" << Describe(got);
    for (size_t i = 0; i < want.size(); ++i) {
      const archive::TarEntry& w = want[i].h;
      const archive::TarEntry& g = got[i].h;
      SCOPED_TRACE(w.name);
      EXPECT_EQ(g.name, w.name);
      EXPECT_EQ(g.type, w.type);
      EXPECT_EQ(g.mode, w.mode);
      EXPECT_EQ(g.uid, w.uid);
      EXPECT_EQ(g.gid, w.gid);
      EXPECT_EQ(g.size, w.size);
      EXPECT_EQ(g.linkname, w.linkname);
      EXPECT_EQ(g.xattrs, w.xattrs);
      EXPECT_EQ(got[i].data, want[i].data);
      if (w.mtime.sec > kOld + 100000) {
        EXPECT_LE(std::abs(g.mtime.sec - w.mtime.sec), 5) << "direct:\n" << Describe(got);
      } else {
        EXPECT_EQ(g.mtime, w.mtime) << "direct:\n" << Describe(got);
      }
    }
  }

  std::string Declined(const CopyAction& a) {
    std::string why;
    auto layer = Plan(a, &why);
    EXPECT_FALSE(layer) << "planned a layer for " << a.src << " -> " << a.dest;
    return why;
  }

  // COPY as the Dockerfile frontend sends it.
  static CopyAction Dockerfile(std::string src, std::string dest) {
    return CopyAction{.src = std::move(src),
                      .dest = std::move(dest),
                      .follow_symlink = true,
                      .dir_copy_contents = true,
                      .create_dest_path = true,
                      .allow_wildcard = true,
                      .allow_empty_wildcard = true};
  }

  TempDir dir_;
};

TEST_F(CopyLayerTest, DirectoryIntoANewDirectory) {
  Src("data/b", "bee");
  Src("data/a", "a");
  Src("data/sub/deeper/c", std::string(3 << 20, 'x'));  // large: several chunks
  Src("data/empty/.keep", "");
  ASSERT_EQ(0, ::mkdir(P("src/data/emptydir").c_str(), 0700));
  ASSERT_EQ(0, ::symlink("a", P("src/data/l").c_str()));
  ASSERT_EQ(0, ::symlink("/nowhere", P("src/data/dangling").c_str()));
  ASSERT_EQ(0, ::link(P("src/data/a").c_str(), P("src/data/sub/hard").c_str()));
  ASSERT_EQ(0, ::link(P("src/data/a").c_str(), P("src/data/0first").c_str()));
  TouchSourceDirs();
  ExpectSameLayer(Dockerfile("data/", "/data/"));
  // The entry order is the diff's: depth first, byte order, parents first; the first name of
  // a hard link group in that order holds the data.
  auto got = Direct(Dockerfile("data/", "/data/"));
  ASSERT_GE(got.size(), 3u);
  EXPECT_EQ(got[0].h.name, "data/");  // directories read back with their slash
  EXPECT_EQ(got[1].h.name, "data/0first");
  EXPECT_EQ(got[1].h.type, archive::TarEntryType::kRegular);
  EXPECT_EQ(got[2].h.name, "data/a");
  EXPECT_EQ(got[2].h.type, archive::TarEntryType::kHardlink);
  EXPECT_EQ(got[2].h.linkname, "data/0first");
}

TEST_F(CopyLayerTest, FileToFileAndIntoExistingDirectories) {
  Src("app.txt", "my app\n", 0755);
  ExpectSameLayer(Dockerfile("app.txt", "/usr/local/share/app"));
  ExpectSameLayer(Dockerfile("app.txt", "/usr/local/"));
  ExpectSameLayer(Dockerfile("app.txt", "/etc/new/deeper/app"));
  ExpectSameLayer(Dockerfile("app.txt", "/top"));
  // The parents the diff brings along carry the parent's metadata.
  auto got = Direct(Dockerfile("app.txt", "/usr/local/share/app"));
  ASSERT_EQ(got.size(), 4u) << Describe(got);
  EXPECT_EQ(got[1].h.name, "usr/local/");
  EXPECT_EQ(got[1].h.mode, 0750u);
  EXPECT_EQ(got[1].h.uid, 7);
  EXPECT_EQ(got[1].h.mtime.sec, kOld);
}

TEST_F(CopyLayerTest, DirectoryMergesIntoAnExistingDestination) {
  Src("conf/x.conf", "x");
  Src("conf/more/y.conf", "y");
  TouchSourceDirs();
  ExpectSameLayer(Dockerfile("conf/", "/etc/"));
  ExpectSameLayer(Dockerfile("conf", "/usr/local/share"));
  ExpectSameLayer(Dockerfile("conf", "/"));
}

TEST_F(CopyLayerTest, ChownChmodAndTimestamp) {
  Src("d/f", "f", 0640);
  Src("d/x", "x", 0700);
  ASSERT_EQ(0, ::symlink("f", P("src/d/l").c_str()));
  TouchSourceDirs();
  CopyAction a = Dockerfile("d", "/opt/d/");
  a.owner = ChownOpt{.user = UserOpt{.name = "app"}};
  ExpectSameLayer(a);
  a.owner = ChownOpt{.user = UserOpt{.id = 5}, .group = UserOpt{.id = 6}};
  a.mode = 0600;
  ExpectSameLayer(a);
  a.mode = -1;
  a.mode_str = "u+x,go-r";
  ExpectSameLayer(a);
  a.timestamp = int64_t{1500000000} * 1000000000;
  ExpectSameLayer(a);
  auto got = Direct(a);
  for (const Entry& e : got) {
    SCOPED_TRACE(e.h.name);
    EXPECT_EQ(e.h.uid, 5);
    EXPECT_EQ(e.h.gid, 6);
  }
}

TEST_F(CopyLayerTest, WildcardsAndSeveralSources) {
  Src("a.txt", "a");
  Src("b.txt", "b");
  Src("c.md", "c");
  Src("dir1/x", "x");
  ASSERT_EQ(0, ::link(P("src/a.txt").c_str(), P("src/dir1/a-again").c_str()));
  TouchSourceDirs();
  ExpectSameLayer(Dockerfile("*.txt", "/out/"));
  {
    // Many matches in one directory share one open descriptor of it.
    for (int i = 0; i < 300; ++i) Src("many/f" + std::to_string(i) + ".txt", std::to_string(i));
    auto open_fds = [] {
      return std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                           std::filesystem::directory_iterator());
    };
    const auto before = open_fds();
    std::string why;
    auto layer = Plan(Dockerfile("many/*.txt", "/many/"), &why);
    ASSERT_TRUE(layer) << why;
    EXPECT_EQ(layer->entries().size(), 301u);
    EXPECT_LT(open_fds() - before, 5);
  }
  ExpectSameLayer(Dockerfile("*", "/all/"));  // hard links across sources stay links
  // Nothing matches: only the destination is made.
  ExpectSameLayer(Dockerfile("*.none", "/empty/"));
}

TEST_F(CopyLayerTest, FromScratchAndWithoutDockerfileDefaults) {
  Src("tree/a", "a");
  TouchSourceDirs();
  CopyAction a{.src = "tree", .dest = "/t"};  // a directory as itself, no parents made
  ExpectSameLayer(a);
  a.dest = "/usr/local";  // exists: the directory goes inside it
  ExpectSameLayer(a);
}

TEST_F(CopyLayerTest, DeclinesWhatItCannotProve) {
  Src("app.txt", "a");
  Src("conf/share/x", "x");
  Src(".wh.evil", "w");
  Src("tar.tar", "t");
  TouchSourceDirs();
  EXPECT_NE(Declined(Dockerfile("app.txt", "/etc/passwd")).find("not a directory"),
            std::string::npos);
  EXPECT_NE(Declined(Dockerfile("app.txt", "/link/x")).find("not a directory"), std::string::npos);
  EXPECT_NE(Declined(Dockerfile("app.txt", "/etc/passwd/x")).find("not a directory"),
            std::string::npos);
  // A copied directory merging into an existing one below the destination.
  EXPECT_NE(Declined(Dockerfile("conf", "/usr/local")).find("exists"), std::string::npos);
  EXPECT_NE(Declined(Dockerfile(".wh.evil", "/x/")).find(".wh."), std::string::npos);
  CopyAction add = Dockerfile("tar.tar", "/x/");
  add.attempt_unpack_docker_compatibility = true;
  EXPECT_FALSE(Declined(add).empty());
  CopyAction ex = Dockerfile("conf", "/x/");
  ex.exclude_patterns = {"*.md"};
  EXPECT_FALSE(Declined(ex).empty());
  {
    // A file with extended attributes is found while the layer is written.
    ASSERT_EQ(0, ::setxattr(P("src/app.txt").c_str(), "user.k", "v", 1, 0));
    std::string why;
    auto layer = Plan(Dockerfile("app.txt", "/y"), &why);
    ASSERT_TRUE(layer) << why;
    EXPECT_FALSE(layer->declined());
    std::string tar;
    archive::StringByteSink sink(&tar);
    archive::TarWriter w(&sink);
    auto s = layer->Write(&w);
    ASSERT_FALSE(s);
    EXPECT_TRUE(layer->declined());
    EXPECT_NE(s.error().message().find("extended attributes"), std::string::npos);
  }
  ASSERT_EQ(0, ::mkfifo(P("src/fifo").c_str(), 0644));
  EXPECT_FALSE(Declined(Dockerfile("fifo", "/y")).empty());
  // Two sources writing the same name.
  Src("one/same", "1");
  Src("two/same", "2");
  EXPECT_NE(Declined(Dockerfile("*/same", "/dup/")).find("replaces"), std::string::npos);
  // A parent directory with extended attributes (copy-up keeps them).
  ASSERT_EQ(0, ::setxattr(P("lower/usr").c_str(), "user.k", "v", 1, 0));
  EXPECT_NE(Declined(Dockerfile("conf/share/x", "/usr/z")).find("extended attributes"),
            std::string::npos);
  // Bad input is left to the copy through the overlay, which reports it.
  EXPECT_FALSE(Declined(Dockerfile("missing", "/m")).empty());
}

TEST_F(CopyLayerTest, ASourceThatChangesOrVanishesFailsTheWrite) {
  Src("d/a", "aaaa");
  Src("d/b", "bbbb");
  TouchSourceDirs();
  std::string why;
  auto layer = Plan(Dockerfile("d", "/d"), &why);
  ASSERT_TRUE(layer) << why;
  WriteTestFile(P("src/d/a"), "longer now");
  ASSERT_EQ(0, ::unlink(P("src/d/b").c_str()));
  std::string tar;
  archive::StringByteSink sink(&tar);
  archive::TarWriter w(&sink);
  auto s = layer->Write(&w);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kAborted);
  EXPECT_NE(s.error().message().find("/d/a"), std::string::npos) << s.error().message();
  // Through the stream into an image, too.
  auto stream = layer->Stream();
  UniqueFd image(::open(P("image").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  auto made = archive::WriteLayerErofs(*stream, image.get());
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().message().find("/d/a"), std::string::npos) << made.error().message();
  // A vanished file.
  Src("d/a", "aaaa");
  layer = Plan(Dockerfile("d", "/d2"), &why);
  ASSERT_TRUE(layer) << why;
  ASSERT_EQ(0, ::unlink(P("src/d/a").c_str()));
  archive::TarWriter w2(&sink);
  s = layer->Write(&w2);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message().find("open /d2/a: no such file or directory"), std::string::npos)
      << s.error().message();
}

TEST_F(CopyLayerTest, ImageWriteToAFullDiskFails) {
  Src("big", std::string(4 << 20, 'b'));
  std::string why;
  auto layer = Plan(Dockerfile("big", "/big"), &why);
  ASSERT_TRUE(layer) << why;
  ASSERT_EQ(0, ::mkdir(P("small").c_str(), 0755));
  ASSERT_EQ(0, ::mount("tmpfs", P("small").c_str(), "tmpfs", 0, "size=1m")) << std::strerror(errno);
  UniqueFd image(::open(P("small/image").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  auto stream = layer->Stream();
  auto made = archive::WriteLayerErofs(*stream, image.get());
  image.Reset();
  EXPECT_EQ(0, ::umount2(P("small").c_str(), MNT_DETACH));
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().message().find("No space left on device"), std::string::npos)
      << made.error().message();
}

}  // namespace
}  // namespace hoist::solver::ops
