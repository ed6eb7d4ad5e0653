#include "archive/tar_writer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstdio>

#include "archive/byte_source.h"
#include "archive/tar_reader.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"

namespace hoist::archive {
namespace {

struct Item {
  TarEntry entry;
  std::string body;
};

Result<std::string> WriteTar(const std::vector<Item>& items, TarWriterOptions opts = {}) {
  std::string out;
  StringByteSink sink(&out);
  TarWriter w(&sink, opts);
  for (const auto& it : items) {
    HOIST_TRY(w.WriteHeader(it.entry));
    // Uneven pieces, to check that bodies are assembled correctly.
    for (size_t i = 0; i < it.body.size(); i += 1000) {
      HOIST_TRY(w.WriteData(std::string_view(it.body).substr(i, 1000)));
    }
  }
  HOIST_TRY(w.Close());
  EXPECT_EQ(w.bytes_written(), out.size());
  return out;
}

Result<std::vector<Item>> ReadTar(std::string data) {
  StringByteSource src(std::move(data));
  TarReader r(&src);
  std::vector<Item> out;
  for (;;) {
    HOIST_ASSIGN_OR_RETURN(auto e, r.Next());
    if (!e) return out;
    HOIST_ASSIGN_OR_RETURN(std::string body, r.ReadBody(1 << 26));
    out.push_back({std::move(*e), std::move(body)});
  }
}

TarEntry Entry(std::string name, TarEntryType type, uint32_t mode = 0644) {
  TarEntry e;
  e.name = std::move(name);
  e.type = type;
  e.mode = mode;
  e.mtime = {1700000000, 0};
  return e;
}

// Longer than ustar's name and prefix together; every component within NAME_MAX.
const std::string kLongDir = std::string(100, 'x') + "/" + std::string(100, 'w') + "/" +
                             std::string(100, 'v') + "/" + std::string(20, 'y');

// Every entry type and attribute, with names and values on both sides of every format limit.
std::vector<Item> AllKinds() {
  std::vector<Item> v;
  TarEntry d = Entry("dir/", TarEntryType::kDirectory, 0755);
  d.uid = 1000;
  d.gid = 1000;
  v.push_back({d, ""});
  TarEntry f = Entry("dir/file.txt", TarEntryType::kRegular, 04755);
  f.size = 5;
  f.uid = 07777777;      // the largest octal uid
  f.gid = 07777777 + 1;  // one more: PAX
  v.push_back({f, "hello"});
  TarEntry big_body = Entry("dir/body", TarEntryType::kRegular);
  std::string body(70000, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  big_body.size = static_cast<int64_t>(body.size());
  v.push_back({big_body, body});
  TarEntry empty = Entry("dir/empty", TarEntryType::kRegular, 0);
  v.push_back({empty, ""});
  TarEntry sl = Entry("dir/link", TarEntryType::kSymlink, 0777);
  sl.linkname = "../target with spaces";
  v.push_back({sl, ""});
  TarEntry hl = Entry("dir/hard", TarEntryType::kHardlink);
  hl.linkname = "dir/file.txt";
  v.push_back({hl, ""});
  TarEntry chr = Entry("dev/null", TarEntryType::kCharDevice, 0666);
  chr.devmajor = 1;
  chr.devminor = 3;
  v.push_back({chr, ""});
  TarEntry blk = Entry("dev/big", TarEntryType::kBlockDevice, 0660);
  blk.devmajor = 4095;
  blk.devminor = 0xfffff;  // 20-bit Linux minors exceed the 7 octal digits: base-256
  v.push_back({blk, ""});
  TarEntry fifo = Entry("run/fifo", TarEntryType::kFifo, 0600);
  v.push_back({fifo, ""});
  // Names: exactly 100 bytes; one that needs the ustar prefix; one that needs PAX.
  v.push_back({Entry(std::string(100, 'n'), TarEntryType::kRegular), ""});
  v.push_back(
      {Entry(std::string(150, 'p') + "/" + std::string(99, 'q'), TarEntryType::kRegular), ""});
  v.push_back({Entry(kLongDir + "/", TarEntryType::kDirectory, 0700), ""});
  v.push_back({Entry(std::string(120, 'z'), TarEntryType::kRegular), ""});  // no slash
  v.push_back({Entry("ünïcødé/名前", TarEntryType::kRegular), ""});
  TarEntry ll = Entry("longlink", TarEntryType::kSymlink, 0777);
  ll.linkname = std::string(101, 'l');
  v.push_back({ll, ""});
  TarEntry x = Entry("xattrs", TarEntryType::kRegular, 0755);
  x.xattrs["security.capability"] = std::string("\x01\x00\x00\x02\x00\x30\x00\x00\n\0=x", 12);
  x.xattrs["user.empty"] = "";
  x.xattrs["user.text"] = "a=b c\nd";
  x.xattrs["trusted.big"] = std::string(5000, 'v');
  v.push_back({x, ""});
  TarEntry old = Entry("old", TarEntryType::kRegular);
  old.mtime = {-1000, 0};
  v.push_back({old, ""});
  TarEntry far = Entry("far", TarEntryType::kRegular);
  far.mtime = {int64_t{1} << 34, 0};  // beyond 11 octal digits
  v.push_back({far, ""});
  return v;
}

void ExpectSameEntry(const TarEntry& want, const TarEntry& got) {
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.type, want.type) << want.name;
  EXPECT_EQ(got.linkname, want.linkname) << want.name;
  EXPECT_EQ(got.mode, want.mode) << want.name;
  EXPECT_EQ(got.uid, want.uid) << want.name;
  EXPECT_EQ(got.gid, want.gid) << want.name;
  EXPECT_EQ(got.size, want.size) << want.name;
  EXPECT_EQ(got.mtime, want.mtime) << want.name;
  EXPECT_EQ(got.devmajor, want.devmajor) << want.name;
  EXPECT_EQ(got.devminor, want.devminor) << want.name;
  EXPECT_EQ(got.xattrs, want.xattrs) << want.name;
  EXPECT_EQ(got.uname, want.uname) << want.name;
  EXPECT_EQ(got.gname, want.gname) << want.name;
  EXPECT_FALSE(got.atime.has_value()) << want.name;
  EXPECT_FALSE(got.ctime.has_value()) << want.name;
}

TEST(TarWriter, RoundTripEveryTypeAndAttribute) {
  std::vector<Item> items = AllKinds();
  auto tar = WriteTar(items);
  ASSERT_TRUE(tar) << tar.error().message();
  EXPECT_EQ(tar->size() % 512, 0u);
  auto back = ReadTar(*tar);
  ASSERT_TRUE(back) << back.error().message();
  ASSERT_EQ(back->size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    ExpectSameEntry(items[i].entry, (*back)[i].entry);
    EXPECT_TRUE((*back)[i].body == items[i].body) << items[i].entry.name;
  }
  // PAX only where needed.
  auto find = [&](std::string_view name) -> const TarEntry& {
    for (const auto& it : *back) {
      if (it.entry.name == name) return it.entry;
    }
    ADD_FAILURE() << name;
    return (*back)[0].entry;
  };
  EXPECT_TRUE(find("dir/").pax_records.empty());
  EXPECT_TRUE(find(std::string(100, 'n')).pax_records.empty());
  EXPECT_TRUE(find(std::string(150, 'p') + "/" + std::string(99, 'q')).pax_records.empty());
  EXPECT_EQ(find("dir/file.txt").pax_records,
            (std::map<std::string, std::string>{{"gid", "2097152"}}));
  EXPECT_TRUE(find(std::string(120, 'z')).pax_records.contains("path"));
}

TEST(TarWriter, DeterministicAndNormalised) {
  std::vector<Item> items = AllKinds();
  for (auto& it : items) {
    // Fields that must not reach the output.
    it.entry.atime = TarTime{5, 5};
    it.entry.ctime = TarTime{6, 6};
    it.entry.uname = "alice";
    it.entry.gname = "staff";
    it.entry.pax_records["comment"] = "ignored";
    if (it.entry.type != TarEntryType::kCharDevice && it.entry.type != TarEntryType::kBlockDevice) {
      it.entry.devmajor = 8;
      it.entry.devminor = 1;
    }
    if (it.entry.type != TarEntryType::kRegular) it.entry.size = 12345;
    it.entry.mtime.nsec = 999;
  }
  auto a = WriteTar(items);
  auto b = WriteTar(items);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(*a == *b);
  auto back = ReadTar(*a);
  ASSERT_TRUE(back) << back.error().message();
  for (const auto& it : *back) {
    const TarEntry& e = it.entry;
    EXPECT_EQ(e.uname, "");
    EXPECT_EQ(e.gname, "");
    EXPECT_EQ(e.mtime.nsec, 0);
    EXPECT_FALSE(e.pax_records.contains("comment"));
    EXPECT_FALSE(e.pax_records.contains("atime"));
    if (e.type != TarEntryType::kCharDevice && e.type != TarEntryType::kBlockDevice) {
      EXPECT_EQ(e.devmajor, 0) << e.name;
    }
    if (e.type != TarEntryType::kRegular) {
      EXPECT_EQ(e.size, 0) << e.name;
    }
  }
  // The device fields of non-devices are empty in the raw header.
  EXPECT_EQ(a->substr(329, 16), std::string(16, '\0'));
}

TEST(TarWriter, ClampSubsecondAndOwnerNames) {
  TarEntry f = Entry("f", TarEntryType::kRegular);
  f.mtime = {2000000000, 123456789};
  f.uname = "alice";
  f.gname = std::string(40, 'g');  // too long for the field: PAX
  TarEntry g = Entry("g", TarEntryType::kRegular);
  g.mtime = {1000, 500000000};
  TarEntry neg = Entry("neg", TarEntryType::kRegular);
  neg.mtime = {-2, 500000000};  // -1.5 s

  TarWriterOptions opts;
  opts.subsecond_mtime = true;
  opts.write_owner_names = true;
  auto tar = WriteTar({{f, ""}, {g, ""}, {neg, ""}}, opts);
  ASSERT_TRUE(tar);
  auto back = ReadTar(*tar);
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)[0].entry.mtime, (TarTime{2000000000, 123456789}));
  EXPECT_EQ((*back)[0].entry.pax_records.at("mtime"), "2000000000.123456789");
  EXPECT_EQ((*back)[0].entry.uname, "alice");
  EXPECT_EQ((*back)[0].entry.gname, std::string(40, 'g'));
  EXPECT_EQ((*back)[1].entry.pax_records.at("mtime"), "1000.5");
  EXPECT_EQ((*back)[2].entry.mtime, (TarTime{-2, 500000000}));
  EXPECT_EQ((*back)[2].entry.pax_records.at("mtime"), "-1.5");

  opts.source_date_epoch = 1500000000;
  tar = WriteTar({{f, ""}, {g, ""}}, opts);
  ASSERT_TRUE(tar);
  back = ReadTar(*tar);
  ASSERT_TRUE(back);
  EXPECT_EQ((*back)[0].entry.mtime, (TarTime{1500000000, 0}));    // clamped
  EXPECT_EQ((*back)[1].entry.mtime, (TarTime{1000, 500000000}));  // older: kept
}

TEST(TarWriter, RejectsWhatItCannotWrite) {
  std::string out;
  StringByteSink sink(&out);
  TarWriter w(&sink);
  EXPECT_EQ(w.WriteHeader(Entry("", TarEntryType::kRegular)).error().code(),
            Code::kInvalidArgument);
  EXPECT_FALSE(w.WriteHeader(Entry(std::string("a\0b", 3), TarEntryType::kRegular)));
  EXPECT_FALSE(w.WriteHeader(Entry("file/", TarEntryType::kRegular)));
  EXPECT_FALSE(w.WriteHeader(Entry("x", TarEntryType::kOther)));
  TarEntry bad = Entry("x", TarEntryType::kRegular);
  bad.xattrs["a=b"] = "v";
  EXPECT_FALSE(w.WriteHeader(bad));
  TarEntry link = Entry("l", TarEntryType::kSymlink);
  EXPECT_FALSE(w.WriteHeader(link));  // no target
  TarEntry f = Entry("f", TarEntryType::kRegular);
  f.size = 10;
  ASSERT_TRUE(w.WriteHeader(f));
  EXPECT_TRUE(w.WriteData("12345"));
  EXPECT_EQ(w.WriteHeader(Entry("g", TarEntryType::kRegular)).error().code(),
            Code::kFailedPrecondition);
  EXPECT_FALSE(w.Close());
  EXPECT_EQ(w.WriteData("1234567").error().code(), Code::kInvalidArgument);
  EXPECT_TRUE(w.WriteData("67890"));
  EXPECT_TRUE(w.Close());
}

class TarWriterGnuTar : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("hoist-tarwriter-test-");
    ASSERT_TRUE(d) << d.error().message();
    dir_ = std::move(*d);
  }
  std::string Path(std::string_view name) const { return JoinPath(dir_.path(), name); }
  std::string Run(const std::string& cmd, int* rc) {
    std::string full = "cd '" + dir_.path() + "' && " + cmd + " > cmd.out 2>&1";
    *rc = std::system(full.c_str());
    return ReadTestFile(Path("cmd.out"));
  }
  TempDir dir_;
};

TEST_F(TarWriterGnuTar, ListsAndExtractsWhatWeWrite) {
  std::vector<Item> items = AllKinds();
  auto tar = WriteTar(items);
  ASSERT_TRUE(tar);
  WriteTestFile(Path("t.tar"), *tar);
  int rc = 0;
  std::string listing = Run("tar -tvf t.tar", &rc);
  ASSERT_EQ(rc, 0) << listing;
  EXPECT_NE(listing.find("dir/file.txt"), std::string::npos) << listing;
  EXPECT_NE(listing.find(std::string(120, 'z')), std::string::npos) << listing;
  EXPECT_NE(listing.find("-> ../target with spaces"), std::string::npos) << listing;
  EXPECT_NE(listing.find("link to dir/file.txt"), std::string::npos) << listing;
  EXPECT_NE(listing.find("4095,1048575"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("PaxHeaders"), std::string::npos) << listing;

  // Extract for real (as root devices are created too); --xattrs reads SCHILY.xattr records.
  ASSERT_EQ(::mkdir(Path("x").c_str(), 0755), 0);
  std::string err = Run("tar --xattrs --xattrs-include='user.*' -xpf t.tar -C x", &rc);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(ReadTestFile(Path("x/dir/file.txt")), "hello");
  struct stat st;
  ASSERT_EQ(::lstat(Path("x/dir/file.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_gid, 07777777u + 1);
  EXPECT_EQ(st.st_nlink, 2u);  // the hardlink
  ASSERT_EQ(::lstat(Path("x/" + kLongDir).c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  char buf[64];
  ssize_t n = ::lgetxattr(Path("x/xattrs").c_str(), "user.text", buf, sizeof(buf));
  ASSERT_EQ(n, 7) << "user xattrs not supported on the test file system?";
  EXPECT_EQ(std::string(buf, 7), "a=b c\nd");
}

}  // namespace
}  // namespace hoist::archive
