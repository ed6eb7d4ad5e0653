// libFuzzer target for the SBOM scanner (exporter/sbom.h), which reads package databases and
// lockfiles out of a built image, all of it untrusted. The input is split at each "\0\0" into up
// to eleven parts, written to the files the scanner reads (dpkg status and status.d, apk's
// database, os-release, a node module's package.json, package-lock.json, a Python METADATA,
// Cargo.lock, yarn.lock, Gemfile.lock, composer.lock) in a fixed tree; the scan and the SPDX
// document must not crash, and every package found must have a name, a version and a purl.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "exporter/sbom.h"

namespace {

constexpr const char* kFiles[] = {
    "var/lib/dpkg/status",
    "lib/apk/db/installed",
    "etc/os-release",
    "app/node_modules/pkg/package.json",
    "app/package-lock.json",
    "usr/lib/python3/dist-packages/pkg-1.0.dist-info/METADATA",
    "src/Cargo.lock",
    "var/lib/dpkg/status.d/pkg",
    "web/yarn.lock",
    "rails/Gemfile.lock",
    "php/composer.lock",
};

std::string* g_root = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto dir = hoist::TempDir::Create("sbom-fuzz-");
  if (!dir) std::abort();
  g_root = new std::string(dir->path());
  (void)dir->Release();
  for (const char* f : kFiles) {
    const std::string path = *g_root + "/" + f;
    if (!hoist::PosixFileSystem()->MakeDirs(path.substr(0, path.rfind('/')), 0755)) std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (const char* f : kFiles) {
    const size_t cut = input.find(std::string_view("\0\0", 2));
    const std::string_view part = input.substr(0, cut);
    std::ofstream(*g_root + "/" + f, std::ios::binary | std::ios::trunc)
        .write(part.data(), static_cast<std::streamsize>(part.size()));
    input = cut == std::string_view::npos ? std::string_view() : input.substr(cut + 2);
  }
  auto found = hoist::exporter::ScanPackages(*g_root);
  if (!found) std::abort();  // the tree is there: only its contents vary
  for (const auto& p : *found) {
    if (p.name.empty() || p.version.empty() || !p.purl.starts_with("pkg:")) std::abort();
  }
  (void)hoist::exporter::SpdxDocument(*found, {.name = "fuzz", .created = 0});
  return 0;
}
