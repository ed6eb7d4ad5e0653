// libFuzzer target for the Dockerfile frontend: the input is a Dockerfile, optionally followed
// by a line `#~~ignore` and a .dockerignore. It is parsed, its instructions read, and the whole
// file converted to LLB (no image resolver, so base images stay unresolved), with the
// definition serialized and read back. Whatever the input, each step must return a result or an
// error without crashing, hanging, leaking or overrunning; ASan and UBSan watch. The frontend
// touches no files, so no sandbox is needed.
//
// With HOIST_FUZZ_WRITE_LLB=DIR every definition converted is also written to DIR (named by its
// digest): run over the Dockerfile seeds once (-runs=0), that makes llb_fuzzer's seeds.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "frontend/dockerfile/convert.h"
#include "frontend/dockerfile/dockerignore.h"
#include "frontend/dockerfile/instructions.h"
#include "frontend/dockerfile/parser.h"
#include "llb/definition.h"
#include "oci/digest.h"

namespace df = hoist::frontend::dockerfile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view dockerfile = input;
  std::string dockerignore;
  if (size_t cut = input.find("\n#~~ignore\n"); cut != std::string_view::npos) {
    dockerfile = input.substr(0, cut);
    dockerignore = std::string(input.substr(cut + 11));
  }

  auto parsed = df::Parse(dockerfile);
  if (parsed) {
    (void)df::Dump(parsed->root);
    (void)df::ParseInstructions(parsed->root);
  }

  (void)df::ReadDockerignore(dockerignore);
  df::ConvertOptions options;
  options.dockerignore = dockerignore;
  options.build_args = {{"A", "1"}, {"TARGETARCH", "arm64"}};
  options.local_unique_id = "fuzz";
  auto converted = df::ConvertToLLB(dockerfile, options);
  if (converted) {
    std::string bytes = converted->definition.Serialize();
    auto back = hoist::llb::Definition::Parse(bytes);
    // What the frontend marshals must read back as the same definition.
    if (!back || back->Serialize() != bytes) std::abort();
    if (const char* dir = std::getenv("HOIST_FUZZ_WRITE_LLB"); dir != nullptr && *dir != '\0') {
      std::string path = std::string(dir) + "/" + std::string(hoist::oci::Digest::Sha256Of(bytes).encoded());
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) {
        (void)!::write(fd, bytes.data(), bytes.size());
        ::close(fd);
      }
    }
  }
  return 0;
}
