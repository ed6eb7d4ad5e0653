// libFuzzer target for WriteLayerErofs: the input is a layer tar, written as an EROFS image to a
// memfd. Whatever the input, the writer must return (an image or an error) without crashing,
// leaking or overrunning; ASan and UBSan watch. Every image it does write must pass
// `fsck.erofs` (erofs-utils), run on the memfd; a failure aborts with fsck's report. Set
// HOIST_FUZZ_NO_FSCK=1 to skip that (fsck costs a process per image). The writer never touches
// the filesystem besides its output descriptor, so no sandbox is needed.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "archive/byte_source.h"
#include "archive/erofs_writer.h"
#include "base/unique_fd.h"

extern char** environ;

namespace {

bool g_fsck = true;

// fsck.erofs's exit status for the image in `fd` (inherited by the child).
int Fsck(int fd) {
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  char prog[] = "fsck.erofs";
  char* argv[] = {prog, path.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, prog, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::fprintf(stderr, "cannot run fsck.erofs (install erofs-utils or set HOIST_FUZZ_NO_FSCK=1)\n");
    std::abort();
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* skip = std::getenv("HOIST_FUZZ_NO_FSCK");
  g_fsck = skip == nullptr || std::string(skip) != "1";
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Not close-on-exec: fsck.erofs opens it through /proc/self/fd.
  hoist::UniqueFd fd(::memfd_create("erofs-fuzz", 0));
  if (!fd) std::abort();
  hoist::archive::StringByteSource source(std::string(reinterpret_cast<const char*>(data), size));
  auto stats = hoist::archive::WriteLayerErofs(source, fd.get(), {.build_time = 1});
  if (stats && g_fsck && Fsck(fd.get()) != 0) {
    std::fprintf(stderr, "fsck.erofs rejects the image written for this input\n");
    std::abort();
  }
  return 0;
}
