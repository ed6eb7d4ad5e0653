// libFuzzer target for ApplyLayer: the input is a layer tar, applied to a fresh root inside the
// fuzz sandbox (base/fuzz/fuzz_sandbox.h), which must leave everything outside the root
// untouched. Each input is applied with overlay mode, the userspace resolver and the root entry's
// metadata on or off, chosen from a hash of the input, so every combination is covered. An
// input that starts with a compression's magic is decompressed first (gzip, zstd, bzip2, xz, as
// ADD reads archives), its output capped so that a small bomb cannot fill the sandbox.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "archive/apply.h"
#include "archive/byte_source.h"
#include "archive/compression.h"
#include "base/fuzz/fuzz_sandbox.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  hoist::fuzz::InitSandbox("apply");
  return 0;
}

namespace {

// Fails reads past a fixed number of bytes (Skip reads through Read).
class CappedSource final : public hoist::archive::ByteSource {
 public:
  CappedSource(hoist::archive::ByteSource* input, uint64_t cap) : input_(input), left_(cap) {}
  hoist::Result<size_t> Read(void* buf, size_t n) override {
    if (left_ == 0) return hoist::MakeError(hoist::Code::kResourceExhausted, "fuzz output cap");
    HOIST_ASSIGN_OR_RETURN(size_t got, input_->Read(buf, n < left_ ? n : left_));
    left_ -= got;
    return got;
  }

 private:
  hoist::archive::ByteSource* input_;
  uint64_t left_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t h = std::hash<std::string_view>{}(input);
  hoist::archive::ApplyOptions options;
  options.overlay = (h & 1) != 0;
  options.force_userspace_resolver_for_testing = (h & 2) != 0;
  options.root_metadata = (h & 4) != 0;
  hoist::archive::StringByteSource raw{std::string(input)};
  auto decompressed = hoist::archive::NewAutoDecompressor(&raw);
  if (decompressed) {
    CappedSource source(decompressed->get(), 32u << 20);
    (void)hoist::archive::ApplyLayer(source, hoist::fuzz::SandboxRoot(), options);
  }
  hoist::fuzz::CheckUntouched();
  hoist::fuzz::FreshRoot();
  return 0;
}
