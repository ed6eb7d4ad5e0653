// See fuzz_sandbox.h.
#include "base/fuzz/fuzz_sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "base/temp_dir.h"
#include "base/unique_fd.h"

namespace hoist::fuzz {
namespace {

constexpr char kRoot[] = "a/b/root";
std::string g_base;  // "/" after chroot, else the sandbox path with a trailing slash
std::string g_root;
std::map<std::string, std::string> g_expected;

void Die(const char* what) {
  std::perror(what);
  std::abort();
}

void WriteFile(const std::string& path, std::string_view content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd || ::write(fd.get(), content.data(), content.size()) < 0) Die(path.c_str());
}

void PlantSentinels(const std::string& dir) {
  ::mkdir((dir + "etc").c_str(), 0755);
  ::mkdir((dir + "sentinel").c_str(), 0700);
  WriteFile(dir + "etc/passwd", "root:x:0:0::/root:/bin/sh\n");
  WriteFile(dir + "secret", "do not touch\n");
  WriteFile(dir + "sentinel/hello", "hello\n");
  ::symlink("sentinel/hello", (dir + "link").c_str());
  ::link((dir + "secret").c_str(), (dir + "secret-link").c_str());
}

void ReadAll(int dir_fd, const char* name, std::string* out) {
  UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd.get(), buf, sizeof(buf))) > 0;) out->append(buf, n);
}

// Records everything below dir_fd except the root; directory times and link counts are left
// out because replacing the root between inputs changes them on its parent.
void Snapshot(int dir_fd, const std::string& prefix, std::map<std::string, std::string>* out) {
  int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = ::fdopendir(dup_fd);
  if (d == nullptr) Die("fdopendir");
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string rel = prefix + name;
    if (rel == kRoot || rel == "proc" || rel.starts_with("a/b/trash-")) continue;
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) Die("fstatat");
    std::string rec = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                      std::to_string(st.st_gid);
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) Die("open");
      Snapshot(sub.get(), rel + "/", out);
    } else {
      rec += " n" + std::to_string(st.st_nlink) + " s" + std::to_string(st.st_size) + " m" +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
      if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = ::readlinkat(dir_fd, name.c_str(), target, sizeof(target));
        rec += " -> " + std::string(target, n > 0 ? n : 0);
      } else if (S_ISREG(st.st_mode)) {
        ReadAll(dir_fd, name.c_str(), &rec);
      }
    }
    (*out)[rel] = rec;
  }
  ::closedir(d);
}

std::map<std::string, std::string> TakeSnapshot() {
  std::map<std::string, std::string> snap;
  UniqueFd base(::open(g_base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!base) Die("open sandbox");
  Snapshot(base.get(), "", &snap);
  return snap;
}

}  // namespace

void InitSandbox(const char* name) {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::string sandbox;
  if (const char* env = std::getenv("HOIST_FUZZ_SANDBOX"); env != nullptr && *env != '\0') {
    sandbox = env;
    ::mkdir(sandbox.c_str(), 0755);
  } else {
    std::string tmpl = std::string("/tmp/hoist-") + name + "-fuzz-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp");
    sandbox = tmpl;
  }
  if (::geteuid() == 0) {
    // In a private mount namespace, which disappears with the process: the sandbox is a
    // tmpfs (on a disk filesystem journal commits, not the code under test, set the pace), and
    // it gets a read-only /proc, which LeakSanitizer reads at exit.
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0) {
      if (::mount("tmpfs", sandbox.c_str(), "tmpfs", 0, "mode=0755,size=512m") != 0) {
        std::perror("mount tmpfs on the fuzz sandbox (continuing on disk)");
      }
      std::string proc = sandbox + "/proc";
      ::mkdir(proc.c_str(), 0555);
      if (::mount("proc", proc.c_str(), "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  nullptr) != 0) {
        std::perror("mount /proc in the fuzz sandbox (leak checks will fail)");
      }
    }
    // libFuzzer keeps writing its corpus and artifacts relative to the working directory,
    // which stays outside the new root; the code under test only ever uses descriptors.
    if (::chroot(sandbox.c_str()) != 0) Die("chroot");
    g_base = "/";
  } else {
    g_base = sandbox + "/";
  }
  g_root = g_base + kRoot;
  ::mkdir((g_base + "a").c_str(), 0755);
  ::mkdir((g_base + "a/b").c_str(), 0755);
  for (const std::string& dir : {g_base, g_base + "a/", g_base + "a/b/"}) PlantSentinels(dir);
  FreshRoot();
  g_expected = TakeSnapshot();
}

const std::string& SandboxRoot() { return g_root; }

void CheckUntouched() {
  std::map<std::string, std::string> now = TakeSnapshot();
  if (now == g_expected) return;
  for (const auto& [name, rec] : g_expected) {
    auto it = now.find(name);
    if (it == now.end())
      std::fprintf(stderr, "removed outside the root: %s\n", name.c_str());
    else if (it->second != rec)
      std::fprintf(stderr, "changed outside the root: %s\n", name.c_str());
  }
  for (const auto& [name, rec] : now) {
    if (!g_expected.count(name)) std::fprintf(stderr, "added outside the root: %s\n", name.c_str());
  }
  std::abort();
}

void FreshRoot() {
  static uint64_t trash = 0;
  if (!RemoveAll(g_root)) {
    // Too deep to remove with bounded descriptors: move it aside instead.
    std::string aside = g_base + "a/b/trash-" + std::to_string(trash++);
    if (::rename(g_root.c_str(), aside.c_str()) != 0) Die("rename root");
  }
  // A root whose mode an input changed is still replaced.
  if (::mkdir(g_root.c_str(), 0755) != 0) Die("mkdir root");
}

}  // namespace hoist::fuzz
