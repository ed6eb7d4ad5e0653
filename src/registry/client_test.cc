#include "registry/client.h"

#include <fstream>

#include <gtest/gtest.h>

#include "base/temp_dir.h"

namespace hoist::registry {
namespace {

TEST(RegistryHostTest, DockerHubIsReachedAtItsApiHost) {
  EXPECT_EQ(RegistryHost("docker.io"), "registry-1.docker.io");
  EXPECT_EQ(RegistryHost("index.docker.io"), "registry-1.docker.io");
  EXPECT_EQ(RegistryHost("127.0.0.1:5000"), "127.0.0.1:5000");
  EXPECT_EQ(RegistryHost("ghcr.io"), "ghcr.io");
}

class BlobSourceIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("hoist-registry-sources-");
    ASSERT_TRUE(d.has_value());
    dir_ = std::move(*d);
    index_ = NewDirBlobSourceIndex(dir_.path() + "/sources");
  }
  TempDir dir_;
  std::unique_ptr<BlobSourceIndex> index_;
  const oci::Digest d_ = oci::Digest::Sha256Of("blob");
};

TEST_F(BlobSourceIndexTest, RemembersRepositoriesPerHostNewestFirst) {
  EXPECT_TRUE(index_->Lookup(d_, "r.example").empty());
  index_->Record(d_, "r.example", "team/a");
  index_->Record(d_, "other.example", "x");
  index_->Record(d_, "r.example", "team/b");
  index_->Record(d_, "r.example", "team/a");  // moves to the front again
  EXPECT_EQ(index_->Lookup(d_, "r.example"), (std::vector<std::string>{"team/a", "team/b"}));
  EXPECT_EQ(index_->Lookup(d_, "other.example"), (std::vector<std::string>{"x"}));
  EXPECT_TRUE(index_->Lookup(oci::Digest::Sha256Of("other"), "r.example").empty());
  // A fresh index over the same directory reads what was recorded.
  auto again = NewDirBlobSourceIndex(dir_.path() + "/sources");
  EXPECT_EQ(again->Lookup(d_, "r.example").size(), 2u);
}

TEST_F(BlobSourceIndexTest, KeepsAtMostSixteenAndSurvivesGarbage) {
  for (int i = 0; i < 40; ++i) index_->Record(d_, "r.example", "repo" + std::to_string(i));
  auto got = index_->Lookup(d_, "r.example");
  ASSERT_EQ(got.size(), 16u);
  EXPECT_EQ(got.front(), "repo39");
  // A torn or foreign file is only a missed mount, never an error.
  std::ofstream(dir_.path() + "/sources/sha256/" + std::string(d_.encoded()), std::ios::trunc)
      << "no-slash-here\n\n/\n";
  EXPECT_TRUE(index_->Lookup(d_, "r.example").empty());
  index_->Record(d_, "r.example", "fresh");
  EXPECT_EQ(index_->Lookup(d_, "r.example"), (std::vector<std::string>{"fresh"}));
}

}  // namespace
}  // namespace hoist::registry
