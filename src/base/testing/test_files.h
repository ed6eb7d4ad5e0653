// Whole-file reads and writes for tests: fixtures written into a TempDir, output files that a
// tool run by the test produced, corpus files. Not for production code, which goes through
// FileSystem (base/file_system.h) so that faults can be injected.
//
// A file that cannot be read or written adds a non-fatal test failure naming its path, so a
// test never compares against an empty string without saying why.
//
// Thread-safety: the functions are thread-safe; concurrent writes to one path are not.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hoist {

// The bytes of `path`; "" (and a failure) if it cannot be opened.
std::string ReadTestFile(const std::string& path);

// Creates or truncates `path` and writes `data` to it (a failure if that does not work).
void WriteTestFile(const std::string& path, std::string_view data);

// `n` pseudo-random bytes, the same for the same seed (incompressible test data).
std::string RandomTestBytes(size_t n, uint32_t seed);

}  // namespace hoist
