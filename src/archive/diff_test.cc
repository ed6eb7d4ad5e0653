#include "archive/diff.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "archive/layer.h"
#include "archive/tar_reader.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/corpus.h"

namespace hoist::archive {
namespace {

struct Got {
  TarEntry entry;
  std::string body;
};

Result<std::vector<Got>> ReadTar(std::string data) {
  StringByteSource src(std::move(data));
  TarReader r(&src);
  std::vector<Got> out;
  for (;;) {
    HOIST_ASSIGN_OR_RETURN(auto e, r.Next());
    if (!e) return out;
    HOIST_ASSIGN_OR_RETURN(std::string body, r.ReadBody(1 << 24));
    out.push_back({std::move(*e), std::move(body)});
  }
}

std::string_view ShortType(TarEntryType t) {
  switch (t) {
    case TarEntryType::kRegular:
      return "regular";
    case TarEntryType::kHardlink:
      return "hardlink";
    case TarEntryType::kSymlink:
      return "symlink";
    case TarEntryType::kDirectory:
      return "directory";
    default:
      return "other";
  }
}

std::string Describe(const std::vector<Got>& v) {
  std::string s;
  for (const auto& g : v) {
    s += std::string(ShortType(g.entry.type)) + " " + g.entry.name;
    if (!g.entry.linkname.empty()) s += " -> " + g.entry.linkname;
    s += "\n";
  }
  return s;
}

class DiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("hoist-diff-test-");
    ASSERT_TRUE(d) << d.error().message();
    dir_ = std::move(*d);
    ::umask(0);
  }
  std::string Path(std::string_view rel) const { return JoinPath(dir_.path(), rel); }

  void Sh(const std::string& cmd) {
    ASSERT_EQ(std::system(("cd '" + dir_.path() + "' && " + cmd).c_str()), 0) << cmd;
  }
  void MkDir(const std::string& rel, mode_t mode = 0755) {
    ASSERT_EQ(::mkdir(Path(rel).c_str(), mode), 0) << rel << ": " << strerror(errno);
    ASSERT_EQ(::chmod(Path(rel).c_str(), mode), 0);
  }
  void File(const std::string& rel, std::string_view content, mode_t mode = 0644) {
    {
      std::ofstream out(Path(rel), std::ios::binary | std::ios::trunc);
      ASSERT_TRUE(out) << rel;
      out << content;
    }
    ASSERT_EQ(::chmod(Path(rel).c_str(), mode), 0) << rel;
  }

  Result<std::vector<Got>> TreeDiff(const std::string& lower, const std::string& upper,
                                    TarWriterOptions topts = {}, DiffOptions dopts = {},
                                    std::string* raw = nullptr) {
    std::string out;
    StringByteSink sink(&out);
    TarWriter w(&sink, topts);
    HOIST_TRY(WriteTreeDiff(Path(lower), Path(upper), &w, dopts));
    HOIST_TRY(w.Close());
    if (raw != nullptr) *raw = out;
    return ReadTar(out);
  }
  Result<std::vector<Got>> OverlayDiff(const std::string& upper, std::string* raw = nullptr) {
    std::string out;
    StringByteSink sink(&out);
    TarWriter w(&sink);
    HOIST_TRY(WriteOverlayUpperDiff(Path(upper), &w));
    HOIST_TRY(w.Close());
    if (raw != nullptr) *raw = out;
    return ReadTar(out);
  }

  TempDir dir_;
};

// --- The shared corpus: containerd's TestDiffTar cases. ---------------------------------------

std::string Rel(const nlohmann::json& j, const char* key) {
  std::string p = j.at(key).get<std::string>();
  while (!p.empty() && p[0] == '/') p.erase(0, 1);
  return p;
}

class DiffCorpusTest : public DiffTest {
 protected:
  void Apply(const std::string& root, const nlohmann::json& ops) {
    for (const auto& op : ops) {
      const std::string kind = op.at("op").get<std::string>();
      const std::string path = root + "/" + Rel(op, "path");
      const mode_t mode = op.contains("mode") ? op.at("mode").get<mode_t>() : 0644;
      if (kind == "mkdir") {
        MkDir(path, mode);
      } else if (kind == "file") {
        File(path, op.at("content").get<std::string>(), mode);
      } else if (kind == "link") {
        ASSERT_EQ(::link(Path(root + "/" + Rel(op, "target")).c_str(), Path(path).c_str()), 0)
            << path;
      } else if (kind == "remove") {
        ASSERT_EQ(::unlink(Path(path).c_str()), 0) << path;
      } else if (kind == "removeall") {
        ASSERT_TRUE(RemoveAll(Path(path)));
      } else if (kind == "chmod") {
        ASSERT_EQ(::chmod(Path(path).c_str(), mode), 0) << path;
      } else if (kind == "socket") {
        ASSERT_EQ(::mknod(Path(path).c_str(), S_IFSOCK | mode, 0), 0) << path;
      } else {
        FAIL() << "unknown op " << kind;
      }
    }
  }
};

TEST_F(DiffCorpusTest, ContainerdDiffTarCases) {
  const nlohmann::json& corpus = LoadCorpusJson("layer-safety/cases.json");
  ASSERT_FALSE(corpus.is_discarded()) << "corpus missing";
  const auto& cases = corpus.at("diff_generation_cases");
  ASSERT_EQ(cases.size(), 8u);
  int n = 0;
  for (const auto& c : cases) {
    const std::string id = c.at("id").get<std::string>();
    SCOPED_TRACE(id);
    const std::string base = "case" + std::to_string(n++);
    MkDir(base);
    MkDir(base + "/lower");
    Apply(base + "/lower", c.at("lower_ops"));
    // A copy that keeps hardlinks, modes and nanosecond timestamps, as containerd's CopyDir.
    Sh("cp -a " + base + "/lower " + base + "/upper");
    Apply(base + "/upper", c.at("upper_ops_applied_on_copy_of_lower"));
    auto got = TreeDiff(base + "/lower", base + "/upper");
    ASSERT_TRUE(got) << got.error().message();
    const auto& want = c.at("expected_entries_in_order");
    ASSERT_EQ(got->size(), want.size()) << Describe(*got);
    for (size_t i = 0; i < want.size(); ++i) {
      const auto& w = want[i];
      const TarEntry& e = (*got)[i].entry;
      const std::string type = w.at("type").get<std::string>();
      EXPECT_EQ(e.name, w.at("name").get<std::string>()) << Describe(*got);
      TarEntryType want_type = type == "dir"       ? TarEntryType::kDirectory
                               : type == "reg"     ? TarEntryType::kRegular
                               : type == "link"    ? TarEntryType::kHardlink
                               : type == "symlink" ? TarEntryType::kSymlink
                                                   : TarEntryType::kOther;
      EXPECT_EQ(e.type, want_type) << e.name;
      if ((type == "dir" || type == "reg") && w.contains("mode")) {
        EXPECT_EQ(e.mode, w.at("mode").get<uint32_t>()) << e.name;
      }
      if (type == "reg" && w.contains("content")) {
        EXPECT_EQ((*got)[i].body, w.at("content").get<std::string>()) << e.name;
      }
      if (w.contains("whiteout_of")) {
        EXPECT_EQ(e.size, 0) << e.name;
      }
      if (type == "link") {
        EXPECT_EQ(e.linkname, w.at("linkname").get<std::string>()) << e.name;
      }
    }
  }
}

// --- Tree diffs beyond the corpus. ------------------------------------------------------------

TEST_F(DiffTest, TypeChangesSymlinksAndHardlinks) {
  MkDir("lower");
  File("lower/becomes-dir", "x");
  MkDir("lower/becomes-file");
  File("lower/becomes-file/child", "c");
  File("lower/becomes-link", "y");
  ASSERT_EQ(::symlink("/etc", Path("lower/escape").c_str()), 0);
  Sh("cp -a lower upper");
  ASSERT_EQ(::unlink(Path("upper/becomes-dir").c_str()), 0);
  MkDir("upper/becomes-dir", 0700);
  File("upper/becomes-dir/inner", "i");
  ASSERT_TRUE(RemoveAll(Path("upper/becomes-file")));
  File("upper/becomes-file", "now a file");
  ASSERT_EQ(::unlink(Path("upper/becomes-link").c_str()), 0);
  ASSERT_EQ(::symlink("becomes-dir/inner", Path("upper/becomes-link").c_str()), 0);
  // The symlink to /etc is retargeted; a diff that followed it would read the host's /etc.
  ASSERT_EQ(::unlink(Path("upper/escape").c_str()), 0);
  ASSERT_EQ(::symlink("/etc/", Path("upper/escape").c_str()), 0);
  File("upper/h1", "shared");
  ASSERT_EQ(::link(Path("upper/h1").c_str(), Path("upper/h2").c_str()), 0);
  MkDir("upper/sub");
  ASSERT_EQ(::link(Path("upper/h1").c_str(), Path("upper/sub/h3").c_str()), 0);

  auto got = TreeDiff("lower", "upper");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(Describe(*got),
            "directory becomes-dir/\n"
            "regular becomes-dir/inner\n"
            "regular becomes-file\n"
            "symlink becomes-link -> becomes-dir/inner\n"
            "symlink escape -> /etc/\n"
            "regular h1\n"
            "hardlink h2 -> h1\n"
            "directory sub/\n"
            "hardlink sub/h3 -> h1\n");
  EXPECT_EQ((*got)[0].entry.mode, 0700u);
  EXPECT_EQ((*got)[2].body, "now a file");
  EXPECT_EQ((*got)[5].body, "shared");
}

TEST_F(DiffTest, ContentComparisonRule) {
  MkDir("lower");
  File("lower/truncated", "aaaa");
  File("lower/precise", "aaaa");
  File("lower/xattr", "x");
  Sh("cp -a lower upper");
  // Same size, same whole-second mtime: the bytes decide.
  File("upper/truncated", "bbbb");
  struct timespec whole[2] = {{1600000000, 0}, {1600000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, Path("lower/truncated").c_str(), whole, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, Path("upper/truncated").c_str(), whole, 0), 0);
  // Same size, same mtime with nanoseconds: trusted unchanged (unless always_compare_content).
  File("upper/precise", "bbbb");
  struct timespec ns[2] = {{1600000000, 5}, {1600000000, 5}};
  ASSERT_EQ(::utimensat(AT_FDCWD, Path("lower/precise").c_str(), ns, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, Path("upper/precise").c_str(), ns, 0), 0);
  // Only an xattr changed.
  ASSERT_EQ(::setxattr(Path("upper/xattr").c_str(), "user.k", "v", 1, 0), 0)
      << "user xattrs unsupported: " << strerror(errno);

  auto got = TreeDiff("lower", "upper");
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(Describe(*got), "regular truncated\nregular xattr\n");
  EXPECT_EQ((*got)[1].entry.xattrs, (std::map<std::string, std::string>{{"user.k", "v"}}));

  DiffOptions always;
  always.always_compare_content = true;
  got = TreeDiff("lower", "upper", {}, always);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(Describe(*got), "regular precise\nregular truncated\nregular xattr\n");
}

TEST_F(DiffTest, RefusesFilesNamedLikeWhiteouts) {
  MkDir("lower");
  MkDir("upper");
  MkDir("upper/d");
  File("upper/d/.wh.sneaky", "");
  auto got = TreeDiff("lower", "upper");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), Code::kInvalidArgument);
  EXPECT_NE(got.error().message().find("\"d/.wh.sneaky\""), std::string::npos)
      << got.error().message();
  got = OverlayDiff("upper");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), Code::kInvalidArgument);
}

TEST_F(DiffTest, DeterministicWithSourceDateEpoch) {
  MkDir("lower");
  MkDir("lower/d");
  File("lower/d/gone", "g");
  Sh("cp -a lower upper");
  ASSERT_EQ(::unlink(Path("upper/d/gone").c_str()), 0);
  File("upper/d/new", "n");
  TarWriterOptions opts;
  opts.source_date_epoch = 1000;
  std::string a, b;
  auto ga = TreeDiff("lower", "upper", opts, {}, &a);
  auto gb = TreeDiff("lower", "upper", opts, {}, &b);
  ASSERT_TRUE(ga && gb);
  EXPECT_TRUE(a == b);
  ASSERT_EQ(Describe(*ga), "directory d/\nregular d/.wh.gone\nregular d/new\n");
  for (const auto& g : *ga) {
    EXPECT_EQ(g.entry.mtime, (TarTime{1000, 0})) << g.entry.name;
  }
  EXPECT_EQ((*ga)[1].entry.mode, 0u);
}

// The whole export path on ~100 MB of files in the page cache: tree diff → tar writer → layer
// writer, with compression inline or on the worker thread.
// Run: ./hoist_unit_tests --gtest_also_run_disabled_tests --gtest_filter='*TreeToLayer*'
TEST_F(DiffTest, DISABLED_TreeToLayerThroughput) {
  MkDir("lower");
  MkDir("upper");
  std::mt19937 rng(5);
  const size_t kFile = 512 * 1024;
  for (int i = 0; i < 200; ++i) {
    std::string body(kFile, '\0');
    if (i % 4 == 0) {
      for (auto& c : body) c = static_cast<char>(rng());
    } else if (i % 4 != 3) {
      static const char* kWords[] = {"usr/", "lib/", "share/", "doc/", "x86_64 ", "ELF\n"};
      std::string t;
      while (t.size() < kFile) t += kWords[rng() % 6];
      body = t.substr(0, kFile);
    }
    File("upper/f" + std::to_string(i), body);
  }
  // Uncompressed first: the producer's share (reading, tar, DiffID), which is what the worker
  // thread can overlap with compression.
  for (CompressorOptions c : {CompressorOptions{Compression::kNone, 0, GzipEngine::kAuto},
                              CompressorOptions{Compression::kGzip, 1, GzipEngine::kIsal},
                              CompressorOptions{Compression::kGzip, 6, GzipEngine::kZlib},
                              CompressorOptions{Compression::kZstd, 3, GzipEngine::kAuto}}) {
    for (bool background : {false, true}) {
      if (c.compression == Compression::kNone && background) continue;
      DiscardByteSink blob;
      auto t0 = std::chrono::steady_clock::now();
      auto layer = LayerWriter::Create(&blob, {c, background, 1 << 20});
      ASSERT_TRUE(layer);
      TarWriter w(layer->get());
      ASSERT_TRUE(WriteTreeDiff(Path("lower"), Path("upper"), &w));
      ASSERT_TRUE(w.Close());
      auto d = (*layer)->Finish();
      ASSERT_TRUE(d);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("%s level %d background=%d: %.1f MB/s of tar (%.3f s)\n",
                  std::string(CompressionName(c.compression)).c_str(), *c.level, background,
                  static_cast<double>(w.bytes_written()) / s / 1e6, s);
    }
  }
}

// --- Overlay upper directories. ---------------------------------------------------------------

class DiffOverlayTest : public DiffTest {
 protected:
  // Mounts lower/upper/work at merged; false (with the reason in *why) if the kernel or the
  // privileges do not allow it.
  bool Mount(const std::string& extra, std::string* why) {
    std::string opts = "lowerdir=" + Path("lower") + ",upperdir=" + Path("upper") +
                       ",workdir=" + Path("work") + extra;
    if (::mount("overlay", Path("merged").c_str(), "overlay", 0, opts.c_str()) != 0) {
      *why = strerror(errno);
      return false;
    }
    mounted_ = true;
    return true;
  }
  void Unmount() {
    if (mounted_) {
      ASSERT_EQ(::umount2(Path("merged").c_str(), 0), 0) << strerror(errno);
      mounted_ = false;
    }
  }
  void TearDown() override {
    if (mounted_) ::umount2(Path("merged").c_str(), MNT_DETACH);
  }
  void Layout() {
    MkDir("lower");
    MkDir("lower/a");
    File("lower/a/keep", "k");
    File("lower/a/gone", "g");
    MkDir("lower/b");
    File("lower/b/old1", "1");
    File("lower/b/old2", "2");
    File("lower/c", "c");
    MkDir("lower/e");
    File("lower/e/x", "x");
    MkDir("upper");
    MkDir("work");
    MkDir("merged");
  }
  bool mounted_ = false;
};

constexpr std::string_view kOverlayExpected =
    "directory a/\n"
    "regular a/.wh.gone\n"
    "regular a/new\n"
    "hardlink a/new2 -> a/new\n"
    "directory b/\n"
    "regular b/.wh..wh..opq\n"
    "regular b/n\n"
    "regular c\n";

TEST_F(DiffOverlayTest, RealOverlayMountOrHandMadeUpper) {
  Layout();
  std::string why;
  if (Mount(",redirect_dir=off,metacopy=off,index=off", &why)) {
    Sh("echo new > merged/a/new && ln merged/a/new merged/a/new2 && rm merged/a/gone");
    Sh("rm -rf merged/b && mkdir merged/b && echo n > merged/b/n");
    Sh("echo changed > merged/c");
    Unmount();
    // What the kernel made: a 0:0 character device and an opaque directory.
    struct stat st;
    ASSERT_EQ(::lstat(Path("upper/a/gone").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    char v[4];
    EXPECT_EQ(::lgetxattr(Path("upper/b").c_str(), "trusted.overlay.opaque", v, sizeof(v)), 1);
  } else {
    ASSERT_TRUE(why == strerror(EPERM) || why == strerror(ENODEV)) << why;
    std::cerr << "overlay mount failed (" << why << "): building the upper dir by hand\n";
    MkDir("upper/a");
    File("upper/a/new", "new\n");
    ASSERT_EQ(::link(Path("upper/a/new").c_str(), Path("upper/a/new2").c_str()), 0);
    ASSERT_EQ(::mknod(Path("upper/a/gone").c_str(), S_IFCHR | 0, makedev(0, 0)), 0);
    MkDir("upper/b");
    ASSERT_EQ(::setxattr(Path("upper/b").c_str(), "trusted.overlay.opaque", "y", 1, 0), 0);
    File("upper/b/n", "n\n");
    File("upper/c", "changed\n");
  }
  std::string raw;
  auto got = OverlayDiff("upper", &raw);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(Describe(*got), kOverlayExpected);
  for (const auto& g : *got) {
    for (const auto& [k, v] : g.entry.xattrs) {
      EXPECT_FALSE(k.starts_with("trusted.overlay.")) << g.entry.name << " " << k;
    }
  }
  EXPECT_EQ((*got)[2].body, "new\n");
  EXPECT_EQ((*got)[7].body, "changed\n");
  std::string again;
  ASSERT_TRUE(OverlayDiff("upper", &again));
  EXPECT_TRUE(raw == again);
}

TEST_F(DiffOverlayTest, RefusesRedirectAndMetacopy) {
  Layout();
  std::string why;
  bool real = Mount(",redirect_dir=on,index=off", &why);
  if (real) {
    // Renaming a lower directory makes the kernel record a redirect.
    Sh("mv merged/e merged/renamed");
    Unmount();
  } else {
    std::cerr << "overlay mount failed (" << why << "): building the upper dir by hand\n";
    MkDir("upper/renamed");
    ASSERT_EQ(::setxattr(Path("upper/renamed").c_str(), "trusted.overlay.redirect", "e", 1, 0), 0);
  }
  auto got = OverlayDiff("upper");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(got.error().message().find("\"renamed\" has trusted.overlay.redirect"),
            std::string::npos)
      << got.error().message();

  ASSERT_TRUE(RemoveAll(Path("upper")));
  MkDir("upper");
  File("upper/meta", "");
  ASSERT_EQ(::setxattr(Path("upper/meta").c_str(), "trusted.overlay.metacopy", "", 0, 0), 0);
  got = OverlayDiff("upper");
  ASSERT_FALSE(got);
  EXPECT_NE(got.error().message().find("trusted.overlay.metacopy"), std::string::npos);
}

}  // namespace
}  // namespace hoist::archive
