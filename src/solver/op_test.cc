#include "solver/op.h"

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

}  // namespace
}  // namespace hoist::solver
