// The Dockerfile hoist's client sends hoistd with its request: what the input holds, and when
// the daemon is left to read the files itself.
#include "client/inline_dockerfile.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"

namespace hoist::client {
namespace {

using Files = std::map<std::string, std::string>;

class InlineDockerfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(mkdir((tmp_.path() + "/ctx").c_str(), 0755) == 0);
    ASSERT_TRUE(mkdir((tmp_.path() + "/df").c_str(), 0755) == 0);
    ASSERT_TRUE(session_.AttachLocalDir("context", tmp_.path() + "/ctx"));
    ASSERT_TRUE(session_.AttachLocalDir("dockerfile", tmp_.path() + "/df"));
    request_.frontend = "dockerfile.v0";
  }
  // The files of the input, or nullopt without one.
  std::optional<Files> Inlined() {
    auto def = InlineDockerfile(request_, session_);
    if (!def) return std::nullopt;
    auto files = llb::InlineFiles(*def);
    EXPECT_TRUE(files && files->has_value());
    return files ? **files : Files{};
  }

  TempDir tmp_ = TempDir::Create().value();
  session::ClientSession session_;
  control::SolveRequest request_;
};

TEST_F(InlineDockerfileTest, TheIgnoreFileThatAppliesTravelsAsTheDockerfiles) {
  WriteTestFile(tmp_.path() + "/df/Dockerfile", "FROM scratch\n");
  EXPECT_EQ(Inlined(), (Files{{"Dockerfile", "FROM scratch\n"}, {"Dockerfile.dockerignore", ""}}));
  WriteTestFile(tmp_.path() + "/ctx/.dockerignore", "*.log\n");
  EXPECT_EQ(Inlined(),
            (Files{{"Dockerfile", "FROM scratch\n"}, {"Dockerfile.dockerignore", "*.log\n"}}));
  WriteTestFile(tmp_.path() + "/df/Dockerfile.dockerignore", "");
  EXPECT_EQ(Inlined(), (Files{{"Dockerfile", "FROM scratch\n"}, {"Dockerfile.dockerignore", ""}}));
}

TEST_F(InlineDockerfileTest, TheInputNamesTheDirectoryItWasReadFrom) {
  WriteTestFile(tmp_.path() + "/df/Dockerfile", "FROM scratch\n");
  request_.frontend_attrs["attest:provenance"] = "mode=min,inline-only=true";
  auto def = InlineDockerfile(request_, session_);
  ASSERT_TRUE(def);
  auto head = def->Head();
  ASSERT_TRUE(head && *head);
  EXPECT_EQ(def->metadata[**head].description[std::string(llb::kInlineFromLocal)], "dockerfile");
}

TEST_F(InlineDockerfileTest, ADockerfileInASubdirectory) {
  ASSERT_EQ(mkdir((tmp_.path() + "/df/sub").c_str(), 0755), 0);
  WriteTestFile(tmp_.path() + "/df/sub/build.Dockerfile", "FROM scratch\n");
  request_.frontend_attrs["filename"] = "./sub//build.Dockerfile";
  EXPECT_EQ(Inlined(), (Files{{"sub/build.Dockerfile", "FROM scratch\n"},
                              {"sub/build.Dockerfile.dockerignore", ""}}));
}

TEST_F(InlineDockerfileTest, LeftToTheDaemon) {
  // No Dockerfile: the daemon reports it.
  EXPECT_EQ(Inlined(), std::nullopt);
  WriteTestFile(tmp_.path() + "/df/Dockerfile", "FROM scratch\n");
  ASSERT_NE(Inlined(), std::nullopt);
  for (const auto& [key, value] :
       Files{{"context", "https://example.com/r.git"}, {"dockerfilekey", "nosuchdir"}}) {
    SCOPED_TRACE(key);
    control::SolveRequest saved = request_;
    request_.frontend_attrs[key] = value;
    EXPECT_EQ(Inlined(), std::nullopt);
    request_ = saved;
  }
  request_.frontend_inputs["dockerfile"] = llb::Definition{};
  EXPECT_EQ(Inlined(), std::nullopt);
  request_.frontend_inputs.clear();
  request_.frontend = "gateway.v0";
  EXPECT_EQ(Inlined(), std::nullopt);
  request_.frontend = "dockerfile.v0";
  // A symlink, and a file too large to travel with the request.
  ASSERT_EQ(symlink("Dockerfile", (tmp_.path() + "/df/link").c_str()), 0);
  request_.frontend_attrs["filename"] = "link";
  EXPECT_EQ(Inlined(), std::nullopt);
  WriteTestFile(tmp_.path() + "/df/big", std::string((1 << 20) + 1, '#'));
  request_.frontend_attrs["filename"] = "big";
  EXPECT_EQ(Inlined(), std::nullopt);
}

}  // namespace
}  // namespace hoist::client
