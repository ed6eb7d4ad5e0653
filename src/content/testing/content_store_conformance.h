// The ContentStore conformance suite: one set of value-parameterised GoogleTest cases that every
// ContentStore implementation must pass. Test code only; it is compiled into the unit test
// binary, never into hoist_content.
//
// Registering an implementation, in that implementation's *_test.cc:
//
//   #include "content/testing/content_store_conformance.h"
//
//   ContentStoreFactory MyStoreFactory() {
//     ContentStoreFactory f;
//     f.name = "MyStore";            // a GoogleTest name: letters, digits, '_'
//     f.writable = false;            // read-only: Writer and Delete must be refused
//     f.make = [](const std::string& dir, const std::vector<std::string>& seed)
//         -> Result<StoreUnderTest> {
//       // Build a store in `dir` (an empty directory that lives as long as the test) that
//       // holds exactly the blobs in `seed`, e.g. write a tarball into `dir` and open it.
//     };
//     f.corrupt = ...;               // required: damage a stored blob's bytes in place
//     return f;
//   }
//   INSTANTIATE_TEST_SUITE_P(MyStore, ContentStoreConformanceTest,
//                            ::testing::Values(MyStoreFactory()), ContentStoreFactoryName);
//   // and one of these two, as the store is writable or not:
//   INSTANTIATE_TEST_SUITE_P(MyStore, WritableContentStoreConformanceTest, ...);
//   INSTANTIATE_TEST_SUITE_P(MyStore, ReadOnlyContentStoreConformanceTest, ...);
//
// Writable stores are seeded through their own Writer, so `make` may ignore `seed` for them
// (return an empty store; the suite writes the seed). Read-only stores must serve the seed
// themselves. Every store in a test is made in a fresh temporary directory.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/temp_dir.h"
#include "content/content_store.h"

namespace hoist::content {

// A store and whatever it needs to outlive it (a wrapping FileSystem, an open archive...).
// Members are destroyed in reverse order: the store first.
struct StoreUnderTest {
  std::shared_ptr<void> keep_alive;
  std::unique_ptr<ContentStore> store;
};

struct ContentStoreFactory {
  std::string name;
  // false: Writer and Delete must return kPermissionDenied, and write tests are skipped.
  bool writable = true;
  // Makes a store rooted in `dir` holding the `seed` blobs (see the file comment).
  std::function<Result<StoreUnderTest>(const std::string& dir,
                                       const std::vector<std::string>& seed)>
      make;
  // Optional: flips bytes of the stored blob `digest` without changing its size, so that its
  // content no longer matches its digest.
  std::function<Status(const std::string& dir, const oci::Digest& digest)> corrupt;
};

// The parameter name printed by GoogleTest: the factory's name.
std::string ContentStoreFactoryName(const ::testing::TestParamInfo<ContentStoreFactory>& info);
void PrintTo(const ContentStoreFactory& f, std::ostream* os);

class ContentStoreConformanceTest : public ::testing::TestWithParam<ContentStoreFactory> {
 protected:
  // Makes a store in a new temporary directory, seeded with `seed`; ASSERTs on failure, so
  // callers check HasFatalFailure() (or use ASSERT_NO_FATAL_FAILURE).
  ContentStore* MakeStore(const std::vector<std::string>& seed = {});
  // The directory of the store most recently made.
  const std::string& store_dir() const { return dirs_.back().path(); }
  const ContentStoreFactory& factory() const { return GetParam(); }

 private:
  std::vector<TempDir> dirs_;
  std::vector<StoreUnderTest> stores_;
};

// The write tests, for stores with `writable`; instantiate them for every writable factory.
class WritableContentStoreConformanceTest : public ContentStoreConformanceTest {
 protected:
  void SetUp() override { ASSERT_TRUE(factory().writable) << factory().name << " is read-only"; }
};

// What read-only stores must refuse; instantiate it for every factory without `writable`.
class ReadOnlyContentStoreConformanceTest : public ContentStoreConformanceTest {
 protected:
  void SetUp() override { ASSERT_FALSE(factory().writable) << factory().name << " is writable"; }
};

// Deterministic pseudo-random bytes, so large blobs are not compressible runs of one byte.
std::string TestBytes(size_t n, uint32_t seed);

}  // namespace hoist::content
