// Test oracles for EROFS layer images: fsck.erofs (erofs-utils) on an image, a read-only mount
// of it, and a record of a directory tree (names, types, modes, owners, mtimes, xattrs,
// contents, link targets, device numbers, hardlink groups) to compare the mounted image with
// what ApplyLayer wrote. Test-only and header-only; included by the EROFS tests alone, so it
// may use gtest.
//
// Times that ApplyLayer takes from the clock (directories it creates as missing parents,
// overlay whiteouts) are recorded as "<build>" when they are not before `clock_floor`, and the
// image's build time is recorded the same way, so the two trees compare equal.
//
// Thread-safety: none needed.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "archive/apply.h"
#include "archive/byte_source.h"
#include "archive/erofs_writer.h"
#include "base/error.h"
#include "base/mount.h"
#include "base/unique_fd.h"

namespace hoist::archive::testing {

// Runs `fsck.erofs IMAGE`; returns its exit status and output.
inline int RunFsckErofs(const std::string& image, std::string* output) {
  std::string cmd = "fsck.erofs '" + image + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof(buf), p)) > 0;) output->append(buf, n);
  int status = ::pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Asserts (non-fatally) that fsck.erofs accepts the image.
inline void ExpectFsckClean(const std::string& image) {
  std::string out;
  int rc = RunFsckErofs(image, &out);
  EXPECT_EQ(rc, 0) << "fsck.erofs " << image << ":\n" << out;
}

// Mounts `image` read-only on `dir` (a file-backed EROFS mount, Linux 6.12+).
inline Result<ScopedMount> MountErofs(const std::string& image, const std::string& dir) {
  return MountAll({Mount{"erofs", image, {"ro"}}}, dir);
}

struct TreeRecordOptions {
  // Times at or after this (seconds) are the clock's, recorded as "<build>".
  int64_t clock_floor = INT64_MAX;
  // The image's build time, recorded as "<build>".
  int64_t build_time = -1;
};

inline std::string HexBytes(const std::string& s) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

inline uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

// The extended attributes of `path` (not followed), sorted, values in hex.
inline std::string XattrRecord(const std::string& path) {
  std::string names(65536, '\0');
  ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0) return "<listxattr failed>";
  names.resize(static_cast<size_t>(n));
  std::map<std::string, std::string> attrs;
  for (size_t i = 0; i < names.size();) {
    std::string name = names.c_str() + i;
    i += name.size() + 1;
    std::string value(65536, '\0');
    ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    value.resize(v < 0 ? 0 : static_cast<size_t>(v));
    attrs[name] = v < 0 ? "<getxattr failed>" : HexBytes(value);
  }
  std::string out;
  for (const auto& [k, v] : attrs) out += " " + k + "=" + v;
  return out;
}

class TreeRecorder {
 public:
  explicit TreeRecorder(TreeRecordOptions options) : options_(options) {}

  // Every path below `root` (the root itself as "/", with its xattrs only) and its record.
  std::map<std::string, std::string> Record(const std::string& root) {
    records_.clear();
    groups_.clear();
    records_["/"] = "root" + XattrRecord(root);
    Walk(root, "");
    return records_;
  }

 private:
  std::string Time(const struct timespec& t) const {
    if (t.tv_sec >= options_.clock_floor || (t.tv_sec == options_.build_time && t.tv_nsec == 0)) {
      return "<build>";
    }
    return std::to_string(t.tv_sec) + "." + std::to_string(t.tv_nsec);
  }

  void Walk(const std::string& dir, const std::string& rel) {
    DIR* d = ::opendir(dir.c_str());
    ASSERT_NE(d, nullptr) << dir;
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      std::string path = dir + "/" + n;
      std::string r = rel + "/" + n;
      struct stat st;
      ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
      char mode[16];
      std::snprintf(mode, sizeof(mode), "%07o", st.st_mode);
      std::string rec = std::string(mode) + " " + std::to_string(st.st_uid) + ":" +
                        std::to_string(st.st_gid) + " n" + std::to_string(st.st_nlink) + " m" +
                        Time(st.st_mtim);
      if (!S_ISDIR(st.st_mode)) {
        auto key = std::make_pair(st.st_dev, st.st_ino);
        auto [it, fresh] = groups_.emplace(key, r);
        if (!fresh || st.st_nlink > 1) rec += " group=" + it->second;
      }
      if (S_ISREG(st.st_mode)) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        std::string content;
        char buf[65536];
        for (ssize_t k; fd && (k = ::read(fd.get(), buf, sizeof(buf))) > 0;) {
          content.append(buf, static_cast<size_t>(k));
        }
        rec += " size=" + std::to_string(st.st_size) + " read=" + std::to_string(content.size()) +
               " fnv=" + std::to_string(Fnv1a(content));
        if (content.size() <= 64) rec += " [" + HexBytes(content) + "]";
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(8192, '\0');
        ssize_t k = ::readlink(path.c_str(), target.data(), target.size());
        target.resize(k < 0 ? 0 : static_cast<size_t>(k));
        rec += " -> " + target;
      } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        rec +=
            " dev=" + std::to_string(major(st.st_rdev)) + ":" + std::to_string(minor(st.st_rdev));
      }
      rec += XattrRecord(path);
      records_[r] = rec;
      if (S_ISDIR(st.st_mode)) Walk(path, r);
    }
  }

  TreeRecordOptions options_;
  std::map<std::string, std::string> records_;
  std::map<std::pair<dev_t, ino_t>, std::string> groups_;
};

// The paths whose records differ, with both records; "" when equal.
inline std::string DiffTrees(const std::map<std::string, std::string>& want,
                             const std::map<std::string, std::string>& got) {
  std::string out;
  for (const auto& [name, rec] : want) {
    auto it = got.find(name);
    if (it == got.end()) {
      out += "missing " + name + ": " + rec + "\n";
    } else if (it->second != rec) {
      out += "differs " + name + ":\n  want " + rec + "\n  got  " + it->second + "\n";
    }
  }
  for (const auto& [name, rec] : got) {
    if (!want.count(name)) out += "extra " + name + ": " + rec + "\n";
  }
  return out;
}

// Writes the layer `tar` as an EROFS image file at `image`.
inline Result<ApplyStats> WriteErofsFile(const std::string& tar, const std::string& image,
                                         const ErofsWriteOptions& options) {
  UniqueFd fd(::open(image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Unexpected(ErrnoError(errno, "create " + image));
  StringByteSource source(tar);
  return WriteLayerErofs(source, fd.get(), options);
}

// Writes `tar` as an image (WORK/LABEL.erofs) and applies it with overlay = true to an empty
// directory (WORK/LABEL.applied), and expects the same outcome: the same error code, or equal
// stats and equal trees, the image accepted by fsck.erofs and mounted on WORK/LABEL.mnt.
inline void ExpectErofsMatchesApply(const std::string& tar, const std::string& work,
                                    const std::string& label, TreeRecordOptions options) {
  SCOPED_TRACE(label);
  std::string image = work + "/" + label + ".erofs";
  std::string applied = work + "/" + label + ".applied";
  std::string mnt = work + "/" + label + ".mnt";
  ASSERT_EQ(::mkdir(applied.c_str(), 0755), 0) << applied;
  ASSERT_EQ(::mkdir(mnt.c_str(), 0755), 0) << mnt;
  auto written = WriteErofsFile(tar, image, {.build_time = options.build_time});
  StringByteSource source(tar);
  auto want = ApplyLayer(source, applied, {.overlay = true});
  ASSERT_EQ(written.has_value(), want.has_value())
      << "erofs: " << (written ? "ok" : written.error().message())
      << "\napply: " << (want ? "ok" : want.error().message());
  if (!want) {
    EXPECT_EQ(written.error().code(), want.error().code()) << written.error().message() << "\n"
                                                           << want.error().message();
    return;
  }
  EXPECT_EQ(written->entries, want->entries);
  EXPECT_EQ(written->bytes_written, want->bytes_written);
  EXPECT_EQ(written->files, want->files);
  EXPECT_EQ(written->dirs, want->dirs);
  EXPECT_EQ(written->symlinks, want->symlinks);
  EXPECT_EQ(written->hardlinks, want->hardlinks);
  EXPECT_EQ(written->specials, want->specials);
  EXPECT_EQ(written->whiteouts, want->whiteouts);
  EXPECT_EQ(written->ignored, want->ignored);
  EXPECT_EQ(written->xattrs_skipped, want->xattrs_skipped);
  ExpectFsckClean(image);
  auto mount = MountErofs(image, mnt);
  ASSERT_TRUE(mount) << mount.error().message();
  auto want_tree = TreeRecorder(options).Record(applied);
  auto got_tree = TreeRecorder(options).Record(mnt);
  EXPECT_EQ(DiffTrees(want_tree, got_tree), "");
}

}  // namespace hoist::archive::testing
