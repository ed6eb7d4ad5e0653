#include "harness.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "base/hash.h"
#include "base/temp_dir.h"

namespace hoist::itest {

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

RunResult Sh(const std::string& command) {
  auto dir = TempDir::Create("hoist-run-");
  RunResult r;
  if (!dir) return r;
  std::string out = dir->path() + "/out", err = dir->path() + "/err";
  std::string full = "(" + command + ") >" + Quote(out) + " 2>" + Quote(err) + " </dev/null";
  int status = std::system(full.c_str());
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFileOrEmpty(out);
  r.err = ReadFileOrEmpty(err);
  return r;
}

RunResult Hoist(const std::string& args) { return Sh(std::string(HOIST_BIN) + " " + args); }

Scratch::Scratch() {
  auto d = TempDir::Create("hoist-itest-");
  if (d) path_ = d->Release();
}

Scratch::~Scratch() {
  if (!path_.empty()) (void)RemoveAll(path_);
}

std::string MakeBaseImage(const std::string& out, const std::string& tag, bool tar) {
  RunResult r = Sh("HOIST=" + Quote(HOIST_BIN) + " " + std::string(HOIST_SOURCE_DIR) +
                   "/scripts/make-base-image " + Quote(out) +
                   " --tag " + Quote(tag) + (tar ? " --tar" : ""));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string d = r.out;
  while (!d.empty() && (d.back() == '\n')) d.pop_back();
  return d;
}

std::map<std::string, std::string> TreeDigest(const std::string& dir) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    std::string rel = fs::relative(it->path(), dir).string();
    if (it->is_symlink()) {
      out[rel] = "-> " + fs::read_symlink(it->path()).string();
    } else if (it->is_regular_file()) {
      out[rel] = Sha256Hex(ReadFileOrEmpty(it->path().string()));
    } else if (it->is_directory()) {
      out[rel] = "dir";
    }
  }
  return out;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
}

std::string Corpora(const std::string& rel) { return std::string(HOIST_CORPORA_DIR) + "/" + rel; }

bool HaveTool(const std::string& tool) {
  return Sh("command -v " + Quote(tool)).exit_code == 0;
}

std::string TreeFingerprint(const std::string& dir) {
  RunResult list = Sh("cd " + Quote(dir) +
                      " && find . -mindepth 1 -printf '%p %y %m %U:%G %l %s %Ts\\n' | sort");
  RunResult sums = Sh("cd " + Quote(dir) +
                      " && find . -type f -print0 | sort -z | xargs -0 -r sha256sum");
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(sums.exit_code, 0) << sums.err;
  return list.out + sums.out;
}

}  // namespace hoist::itest
