#include "solver/op.h"
#include "solver/cache_key.h"

#include <gtest/gtest.h>

namespace hoist::solver {
namespace {

TEST(ResultRefTest, LastCopyReleasesOnce) {
  std::vector<std::string> released;
  {
    ResultRef a = ResultRef::Adopt("snap-1", [&](const std::string& id) { released.push_back(id); });
    EXPECT_TRUE(released.empty());
    EXPECT_EQ(a.id(), "snap-1");
    ResultRef b = a;
    EXPECT_EQ(a.use_count(), 2);
    ResultRef c = std::move(b);
    a = ResultRef();
    EXPECT_TRUE(a.empty());
    EXPECT_TRUE(released.empty());
    EXPECT_FALSE(c.empty());
  }
  EXPECT_EQ(released, std::vector<std::string>{"snap-1"});
  ResultRef none = ResultRef::Adopt("x", nullptr);  // no releaser: nothing to call
  EXPECT_EQ(none.id(), "x");
}

TEST(CacheKeyTest, AShapeIsTheKeyWithoutTheContents) {
  const oci::Digest op = oci::Digest::Sha256Of("op");
  const oci::Digest base = oci::Digest::Sha256Of("base key");
  auto inputs = [&](const char* content, const oci::Digest& base_key) {
    std::vector<CacheKeyInput> in(2);
    in[0].content = oci::Digest::Sha256Of(content);
    in[0].selector = oci::Digest::Sha256Of("/app");
    in[1].key = base_key;
    return in;
  };
  // Other contents: other keys, one shape, unlike any key.
  EXPECT_NE(ComputeCacheKey(op, inputs("v1", base)), ComputeCacheKey(op, inputs("v2", base)));
  EXPECT_EQ(ComputeShapeKey(op, inputs("v1", base)), ComputeShapeKey(op, inputs("v2", base)));
  EXPECT_NE(ComputeShapeKey(op, inputs("v1", base)), ComputeCacheKey(op, inputs("v1", base)));
  // The rest still counts: the op, a key input, a selector.
  const oci::Digest other = oci::Digest::Sha256Of("other base");
  EXPECT_NE(ComputeShapeKey(op, inputs("v1", base)), ComputeShapeKey(op, inputs("v1", other)));
  EXPECT_NE(ComputeShapeKey(op, inputs("v1", base)),
            ComputeShapeKey(oci::Digest::Sha256Of("op2"), inputs("v1", base)));
  auto moved = inputs("v1", base);
  moved[0].selector = oci::Digest::Sha256Of("/lib");
  EXPECT_NE(ComputeShapeKey(op, inputs("v1", base)), ComputeShapeKey(op, moved));
  // Without content inputs a shape still differs from the key (its own version line).
  std::vector<CacheKeyInput> plain(1);
  plain[0].key = base;
  EXPECT_NE(ComputeShapeKey(op, plain), ComputeCacheKey(op, plain));
}

}  // namespace
}  // namespace hoist::solver
