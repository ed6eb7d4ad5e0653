// libFuzzer target for ApplyLayer: the input is a layer tar, applied to a fresh root inside the
// fuzz sandbox (base/fuzz/fuzz_sandbox.h), which must leave everything outside the root
// untouched. Each input is applied with overlay mode and the userspace resolver on or off,
// chosen from a hash of the input, so all four combinations are covered.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "archive/apply.h"
#include "archive/byte_source.h"
#include "base/fuzz/fuzz_sandbox.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  hoist::fuzz::InitSandbox("apply");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t h = std::hash<std::string_view>{}(input);
  hoist::archive::ApplyOptions options;
  options.overlay = (h & 1) != 0;
  options.force_userspace_resolver_for_testing = (h & 2) != 0;
  hoist::archive::StringByteSource source{std::string(input)};
  (void)hoist::archive::ApplyLayer(source, hoist::fuzz::SandboxRoot(), options);
  hoist::fuzz::CheckUntouched();
  hoist::fuzz::FreshRoot();
  return 0;
}
