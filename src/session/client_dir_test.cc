// The local dirs a client attaches: walks with client-side patterns, confined opens. Each case
// runs in process and over gRPC (the engine's RemoteSession reading through FileSync).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "session/client_session.h"
#include "session/testing/session_pair.h"
#include "session/testing/test_layout.h"

namespace hoist::session {
namespace {

using testing::SessionPair;
using testing::Transport;

class ClientDirTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    auto t = TempDir::Create("clientdir-test-");
    ASSERT_TRUE(t);
    tmp_ = std::move(*t);
    root_ = tmp_.path() + "/ctx";
    ASSERT_EQ(testing::RunShell("mkdir -p '" + root_ + "'/src/lib '" + root_ + "'/docs '" + root_ +
                                "'/node_modules/pkg"),
              0);
    WriteTestFile(root_ + "/Dockerfile", "FROM scratch\n");
    WriteTestFile(root_ + "/src/main.c", "int main(){}\n");
    WriteTestFile(root_ + "/src/lib/util.c", "x");
    WriteTestFile(root_ + "/docs/README.md", "docs");
    WriteTestFile(root_ + "/docs/keep.md", "keep");
    WriteTestFile(root_ + "/node_modules/pkg/index.js", "js");
    WriteTestFile(tmp_.path() + "/outside.txt", "outside");
    ASSERT_EQ(symlink("../outside.txt", (root_ + "/escape").c_str()), 0);
    ASSERT_EQ(symlink("/", (root_ + "/rootlink").c_str()), 0);
    ASSERT_EQ(symlink("src", (root_ + "/srclink").c_str()), 0);
    ASSERT_EQ(chmod((root_ + "/src/main.c").c_str(), 0750), 0);
    ASSERT_TRUE(pair_.client().AttachLocalDir("context", root_));
    auto d = pair_.engine().LocalDir("context");
    ASSERT_TRUE(d) << d.error().message();
    dir_ = *d;
  }

  std::map<std::string, FileEntry> Walk(const WalkOptions& opts) {
    std::map<std::string, FileEntry> out;
    std::vector<std::string> order;
    auto st = dir_->Walk(opts, [&](const FileEntry& e) -> Status {
      order.push_back(e.path);
      out[e.path] = e;
      return {};
    });
    EXPECT_TRUE(st) << st.error().message();
    // Parents before children, each path once.
    EXPECT_EQ(order.size(), out.size());
    for (size_t i = 0; i < order.size(); ++i) {
      size_t slash = order[i].rfind('/');
      if (slash == std::string::npos) continue;
      std::string parent = order[i].substr(0, slash);
      auto it = std::find(order.begin(), order.begin() + static_cast<long>(i), parent);
      EXPECT_NE(it, order.begin() + static_cast<long>(i)) << order[i] << " before its parent";
    }
    return out;
  }

  static std::vector<std::string> Keys(const std::map<std::string, FileEntry>& m) {
    std::vector<std::string> k;
    for (const auto& [p, e] : m) k.push_back(p);
    return k;
  }

  std::string ReadAll(std::string_view path) {
    auto f = dir_->OpenFile(path);
    EXPECT_TRUE(f) << f.error().message();
    if (!f) return "";
    std::string out(static_cast<size_t>(*(*f)->Size()), '\0');
    auto n = (*f)->ReadAt(0, out.data(), out.size());
    EXPECT_TRUE(n);
    return out;
  }

  TempDir tmp_;
  std::string root_;
  SessionPair pair_{GetParam()};
  std::shared_ptr<ClientDir> dir_;
};

INSTANTIATE_TEST_SUITE_P(Transports, ClientDirTest,
                         ::testing::Values(Transport::kInProcess, Transport::kGrpc,
                                           Transport::kGrpcBuildKitMethods),
                         [](const auto& info) { return testing::TransportName(info.param); });

TEST_P(ClientDirTest, WalkReportsEveryEntryWithItsMetadata) {
  auto all = Walk({});
  EXPECT_EQ(Keys(all),
            (std::vector<std::string>{"Dockerfile", "docs", "docs/README.md", "docs/keep.md",
                                      "escape", "node_modules", "node_modules/pkg",
                                      "node_modules/pkg/index.js", "rootlink", "src", "src/lib",
                                      "src/lib/util.c", "src/main.c", "srclink"}));
  const FileEntry& main = all["src/main.c"];
  EXPECT_TRUE(S_ISREG(main.mode));
  EXPECT_EQ(main.mode & 07777, 0750u);
  EXPECT_EQ(main.size, 13);
  EXPECT_EQ(main.uid, getuid());
  EXPECT_GT(main.mtime_ns, 0);
  EXPECT_TRUE(S_ISDIR(all["src"].mode));
  EXPECT_EQ(all["src"].size, 0);
  // Symlinks are reported with their targets and never followed.
  EXPECT_TRUE(S_ISLNK(all["escape"].mode));
  EXPECT_EQ(all["escape"].link_target, "../outside.txt");
  EXPECT_EQ(all["rootlink"].link_target, "/");
  EXPECT_EQ(all.count("srclink/main.c"), 0u);
}

TEST_P(ClientDirTest, ExcludePatternsApplyOnTheClient) {
  WalkOptions opts;
  opts.exclude_patterns = {"node_modules", "docs/*.md", "!docs/keep.md", "**/*.c", "!src/main.c"};
  auto got = Walk(opts);
  EXPECT_EQ(Keys(got),
            (std::vector<std::string>{"Dockerfile", "docs", "docs/keep.md", "escape", "rootlink",
                                      "src", "src/lib", "src/main.c", "srclink"}));
}

TEST_P(ClientDirTest, ExcludedDirectoryWithAnExceptionInside) {
  WalkOptions opts;
  opts.exclude_patterns = {"docs", "!docs/keep.md"};
  auto got = Walk(opts);
  EXPECT_EQ(got.count("docs/keep.md"), 1u);
  EXPECT_EQ(got.count("docs/README.md"), 0u);
  // The excluded directory is sent only as the parent of what was re-included.
  EXPECT_EQ(got.count("docs"), 1u);
}

TEST_P(ClientDirTest, IncludePatternsSendMatchesWithTheirParents) {
  WalkOptions opts;
  opts.include_patterns = {"src/lib", "Dockerfile"};
  auto got = Walk(opts);
  EXPECT_EQ(Keys(got),
            (std::vector<std::string>{"Dockerfile", "src", "src/lib", "src/lib/util.c"}));
  opts.exclude_patterns = {"**/util.c"};
  EXPECT_EQ(Keys(Walk(opts)), (std::vector<std::string>{"Dockerfile", "src", "src/lib"}));
}

TEST_P(ClientDirTest, PatternErrors) {
  WalkOptions opts;
  opts.exclude_patterns = {"["};
  auto st = dir_->Walk(opts, [](const FileEntry&) -> Status { return {}; });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(st.error().message().rfind("local dir context: ", 0), 0u) << st.error().message();
  EXPECT_EQ(st.error().message(), "local dir context: syntax error in pattern");
  WalkOptions bang;
  bang.include_patterns = {"!"};
  auto b = dir_->Walk(bang, [](const FileEntry&) -> Status { return {}; });
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().message(), "local dir context: illegal exclusion pattern: \"!\"");
}

TEST_P(ClientDirTest, WalkStopsAtTheCallbacksError) {
  int calls = 0;
  auto st = dir_->Walk({}, [&](const FileEntry&) -> Status {
    if (++calls == 3) return MakeError(Code::kAborted, "enough");
    return {};
  });
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message(), "enough");
  EXPECT_EQ(calls, 3);
  auto cancel = CancelContext::Background();
  cancel->Cancel("stop");
  auto c = dir_->Walk(
      {}, [](const FileEntry&) -> Status { return {}; }, cancel.get());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Code::kCancelled);
}

TEST_P(ClientDirTest, OpenFileReadsInsideTheDir) {
  EXPECT_EQ(ReadAll("Dockerfile"), "FROM scratch\n");
  EXPECT_EQ(ReadAll("src/lib/util.c"), "x");
}

TEST_P(ClientDirTest, ReadWholeFileStopsAtItsLimit) {
  auto whole = ReadWholeFile(*dir_, "Dockerfile", 13);
  ASSERT_TRUE(whole) << whole.error().message();
  EXPECT_EQ(*whole, "FROM scratch\n");
  auto over = ReadWholeFile(*dir_, "Dockerfile", 12);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(over.error().message(), "Dockerfile: larger than 12 bytes");
  EXPECT_EQ(ReadWholeFile(*dir_, "nope", 100).error().code(), Code::kNotFound);
  EXPECT_FALSE(ReadWholeFile(*dir_, "escape", 100));
}

TEST_P(ClientDirTest, OpenFileIsConfined) {
  struct Case {
    const char* path;
    Code code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"../outside.txt", Code::kInvalidArgument,
       "local dir context: invalid path \"../outside.txt\""},
      {"/etc/passwd", Code::kInvalidArgument, "local dir context: invalid path \"/etc/passwd\""},
      {"src/../../outside.txt", Code::kInvalidArgument,
       "local dir context: invalid path \"src/../../outside.txt\""},
      {"", Code::kInvalidArgument, "local dir context: invalid path \"\""},
      {"src//main.c", Code::kInvalidArgument, "local dir context: invalid path \"src//main.c\""},
      {"./Dockerfile", Code::kInvalidArgument, "local dir context: invalid path \"./Dockerfile\""},
      {"escape", Code::kPermissionDenied,
       "local dir context: open escape: a symlink or non-directory is in the way; symlinks are "
       "not followed"},
      {"rootlink/etc/passwd", Code::kPermissionDenied,
       "local dir context: open rootlink/etc/passwd: a symlink or non-directory is in the way; "
       "symlinks are not followed"},
      {"srclink/main.c", Code::kPermissionDenied,
       "local dir context: open srclink/main.c: a symlink or non-directory is in the way; "
       "symlinks are not followed"},
      {"src", Code::kInvalidArgument, "local dir context: src is not a regular file"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path);
    auto f = dir_->OpenFile(c.path);
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code(), c.code);
    EXPECT_EQ(f.error().message(), c.message);
    EXPECT_EQ(f.error().message().find(tmp_.path()), std::string::npos);
  }
  auto missing = dir_->OpenFile("src/nope.c");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  EXPECT_EQ(missing.error().message().find(tmp_.path()), std::string::npos)
      << missing.error().message();
}

TEST_P(ClientDirTest, OpenFileRefusesFifosWithoutBlocking) {
  ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0644), 0);
  auto f = dir_->OpenFile("fifo");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message(), "local dir context: fifo is not a regular file");
}

TEST_P(ClientDirTest, UnknownDirAndMissingPath) {
  // From LocalDir, or over a remote session (which does not ask the client when it opens a
  // directory) from each kind of first use.
  auto none = pair_.engine().LocalDir("dockerfile");
  if (none) {
    auto walked = (*none)->Walk({}, [](const FileEntry&) { return OkStatus(); });
    ASSERT_FALSE(walked);
    EXPECT_EQ(walked.error().code(), Code::kNotFound);
    EXPECT_EQ(walked.error().message(), "unknown local dir dockerfile");
    auto read = (*none)->OpenFile("Dockerfile");
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), Code::kNotFound);
    EXPECT_EQ(read.error().message(), "unknown local dir dockerfile");
  } else {
    EXPECT_EQ(none.error().code(), Code::kNotFound);
    EXPECT_EQ(none.error().message(), "unknown local dir dockerfile");
  }
  ClientSession s;
  auto bad = s.AttachLocalDir("x", tmp_.path() + "/missing");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kNotFound);
}

}  // namespace
}  // namespace hoist::session
