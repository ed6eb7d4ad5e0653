// libFuzzer target for WriteLayerErofs: the input is a layer tar, written as an EROFS image to a
// memfd. Whatever the input, the writer must return (an image or an error) without crashing,
// leaking or overrunning; ASan and UBSan watch. The writer never touches the filesystem
// besides its output descriptor, so no sandbox is needed.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "archive/byte_source.h"
#include "archive/erofs_writer.h"
#include "base/unique_fd.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hoist::UniqueFd fd(::memfd_create("erofs-fuzz", MFD_CLOEXEC));
  if (!fd) std::abort();
  hoist::archive::StringByteSource source(std::string(reinterpret_cast<const char*>(data), size));
  auto stats = hoist::archive::WriteLayerErofs(source, fd.get(), {.build_time = 1});
  (void)stats;
  return 0;
}
