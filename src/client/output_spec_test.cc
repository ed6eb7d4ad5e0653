#include "client/output_spec.h"

#include <gtest/gtest.h>

namespace hoist::client {
namespace {

TEST(OutputSpecTest, BareValues) {
  EXPECT_EQ(*ParseOutputSpec("out"), (OutputSpec{.type = "local", .attrs = {{"dest", "out"}}}));
  EXPECT_EQ(*ParseOutputSpec("-"), (OutputSpec{.type = "tar", .attrs = {{"dest", "-"}}}));
}

TEST(OutputSpecTest, Csv) {
  auto spec = ParseOutputSpec("type=oci,dest=out,tar=false,\"name=a:1,b:2\"");
  ASSERT_TRUE(spec) << spec.error().message();
  EXPECT_EQ(spec->type, "oci");
  EXPECT_EQ(spec->attrs.at("dest"), "out");
  EXPECT_EQ(spec->attrs.at("tar"), "false");
  EXPECT_EQ(spec->attrs.at("name"), "a:1,b:2");
  auto inner = ParseOutputSpec("type=oci,name=\"a:1,b:2\"");
  ASSERT_TRUE(inner);
  EXPECT_EQ(inner->attrs.at("name"), "a:1,b:2");
}

TEST(OutputSpecTest, Errors) {
  EXPECT_EQ(ParseOutputSpec("dest=out").error().message(),
            "invalid output \"dest=out\": type is required");
  EXPECT_EQ(ParseOutputSpec("type=oci,dest=a,dest=b").error().message(),
            "invalid output \"type=oci,dest=a,dest=b\": duplicate key \"dest\"");
  EXPECT_EQ(ParseOutputSpec("type=oci,tar").error().message(),
            "invalid output \"type=oci,tar\": field \"tar\" is not key=value");
  EXPECT_NE(ParseOutputSpec("type=oci,name=\"a").error().message().find("quoted-field"),
            std::string::npos);
  EXPECT_EQ(ParseOutputSpec("").error().message(), "invalid output \"\": empty value");
}

TEST(OutputSpecTest, Bools) {
  EXPECT_TRUE(*ParseBool("tar", "true"));
  EXPECT_FALSE(*ParseBool("tar", "0"));
  EXPECT_EQ(ParseBool("tar", "yes").error().message(),
            "invalid value \"yes\" for tar: expected true or false");
}

}  // namespace
}  // namespace hoist::client
