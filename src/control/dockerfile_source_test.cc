// Where the frontend gets the Dockerfile and its ignore file: the client's directories, a
// frontend input made inline, a frontend input that has to be solved.
#include "control/dockerfile_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "llb/llb.h"
#include "session/client_session.h"

namespace hoist::control {
namespace {

class DockerfileSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"/ctx", "/df", "/solved"}) {
      ASSERT_EQ(mkdir((tmp_.path() + d).c_str(), 0755), 0);
    }
    ASSERT_TRUE(session_.AttachLocalDir("context", tmp_.path() + "/ctx"));
    ASSERT_TRUE(session_.AttachLocalDir("dockerfile", tmp_.path() + "/df"));
  }
  void Write(const std::string& path, const std::string& text) {
    WriteTestFile(tmp_.path() + "/" + path, text);
  }
  // Solving shows the directory `solved`, and counts the solves.
  SolveAndView Solve() {
    return [this](const llb::Definition&,
                  const std::function<Status(const std::string& dir)>& fn) -> Status {
      ++solves_;
      return fn(tmp_.path() + "/solved");
    };
  }
  static llb::Definition Inline(const llb::FileAction& files) {
    return llb::Marshal(llb::Scratch().File(files)).value();
  }

  TempDir tmp_ = TempDir::Create().value();
  session::ClientSession session_;
  FrontendSettings settings_;
  int solves_ = 0;
};

TEST_F(DockerfileSourceTest, TheDockerfilesOwnIgnoreFileWinsEvenEmpty) {
  Write("df/Dockerfile", "FROM scratch\n");
  Write("ctx/.dockerignore", "*.log\n");
  auto files = ReadSessionDockerfile(session_, settings_);
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->dockerfile, "FROM scratch\n");
  EXPECT_EQ(files->dockerignore, "*.log\n");
  Write("df/Dockerfile.dockerignore", "");
  files = ReadSessionDockerfile(session_, settings_);
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->dockerignore, "");
}

TEST_F(DockerfileSourceTest, AMissingDockerfileIsSaidSo) {
  for (const auto& read : {ReadSessionDockerfile(session_, settings_),
                           ReadInputDockerfile(Inline(llb::Mkfile("/other", 0644, "")), session_,
                                               settings_, true, Solve()),
                           ReadInputDockerfile(llb::Marshal(llb::Local("x")).value(), session_,
                                               settings_, true, Solve())}) {
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), Code::kNotFound);
    EXPECT_EQ(read.error().message(),
              "failed to read dockerfile: open Dockerfile: no such file or directory");
  }
}

TEST_F(DockerfileSourceTest, AnInlineInputIsReadWithoutSolving) {
  Write("ctx/.dockerignore", "*.log\n");
  auto files = ReadInputDockerfile(
      Inline(llb::Mkfile("/Dockerfile", 0644, "FROM a\n").Mkfile("/Dockerfile.dockerignore", 0644, "x\n")),
      session_, settings_, true, Solve());
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->dockerfile, "FROM a\n");
  EXPECT_EQ(files->dockerignore, "x\n");
  // Without an ignore file of its own, the context's applies; a context that is not the
  // client's (a git repository) has none here.
  const llb::Definition alone = Inline(llb::Mkfile("/Dockerfile", 0644, "FROM a\n"));
  files = ReadInputDockerfile(alone, session_, settings_, true, Solve());
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->dockerignore, "*.log\n");
  files = ReadInputDockerfile(alone, session_, settings_, false, Solve());
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->dockerignore, "");
  EXPECT_EQ(solves_, 0);
}

TEST_F(DockerfileSourceTest, AnyOtherInputIsSolvedAndRead) {
  ASSERT_EQ(mkdir((tmp_.path() + "/solved/sub").c_str(), 0755), 0);
  Write("solved/sub/app.Dockerfile", "FROM b\n");
  Write("ctx/.dockerignore", "*.log\n");
  settings_.filename = "sub/app.Dockerfile";
  const llb::Definition input = llb::Marshal(llb::Local("dockerfile")).value();
  auto files = ReadInputDockerfile(input, session_, settings_, true, Solve());
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->dockerfile, "FROM b\n");
  EXPECT_EQ(files->dockerignore, "*.log\n");
  Write("solved/sub/app.Dockerfile.dockerignore", "only\n");
  files = ReadInputDockerfile(input, session_, settings_, true, Solve());
  ASSERT_TRUE(files) << files.error().message();
  EXPECT_EQ(files->dockerignore, "only\n");
  EXPECT_EQ(solves_, 2);
  // The result's files are read inside it: a symlink out of it is not followed.
  ASSERT_EQ(symlink((tmp_.path() + "/df").c_str(), (tmp_.path() + "/solved/out").c_str()), 0);
  Write("df/Dockerfile", "FROM outside\n");
  settings_.filename = "out/Dockerfile";
  EXPECT_FALSE(ReadInputDockerfile(input, session_, settings_, true, Solve()));
}

TEST_F(DockerfileSourceTest, TheClientSaysWhichDirectoryItReadTheInputFrom) {
  EXPECT_FALSE(InputReadFromLocal(Inline(llb::Mkfile("/Dockerfile", 0644, ""))));
  EXPECT_TRUE(InputReadFromLocal(llb::Marshal(llb::Scratch().File(
      llb::Mkfile("/Dockerfile", 0644, ""),
      {.description = {{std::string(llb::kInlineFromLocal), "dockerfile"}}})).value()));
  EXPECT_FALSE(InputReadFromLocal(llb::Definition{}));
}

}  // namespace
}  // namespace hoist::control
