// SessionServer: letting a session go without stopping the server.
#include "session/session_server.h"

#include <grpc/grpc.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <future>
#include <thread>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "session/internal/session_services.h"
#include "session/remote_session.h"

namespace hoist::session {
namespace {

using namespace std::chrono_literals;

class SessionServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const bool held = (grpc_init(), true);
    (void)held;
    WriteTestFile(tmp_.path() + "/f", "x");
    auto client = std::make_shared<ClientSession>();
    ASSERT_TRUE(client->AttachLocalDir("context", tmp_.path()));
    client_ = client;
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    auto server = SessionServer::Start(std::move(client), UniqueFd(fds[0]));
    ASSERT_TRUE(server) << server.error().message();
    server_ = std::move(*server);
    auto info = ParseSessionMetadata(SessionMetadata(*client_.lock(), "test"));
    ASSERT_TRUE(info);
    auto remote = RemoteSession::Connect(std::move(*info), UniqueFd(fds[1]));
    ASSERT_TRUE(remote) << remote.error().message();
    remote_ = std::move(*remote);
  }
  void TearDown() override {
    remote_.reset();
    if (server_) server_->Shutdown();
  }
  Status Walk() {
    auto dir = remote_->LocalDir("context");
    if (!dir) return Unexpected(std::move(dir).error());
    return (*dir)->Walk({}, [](const FileEntry&) -> Status { return OkStatus(); });
  }

  TempDir tmp_ = TempDir::Create().value();
  std::weak_ptr<ClientSession> client_;
  std::unique_ptr<SessionServer> server_;
  std::shared_ptr<RemoteSession> remote_;
};

TEST_F(SessionServerTest, AReleasedSessionIsDroppedAndLaterCallsAreRefused) {
  ASSERT_TRUE(Walk());
  EXPECT_TRUE(server_->Release(1s));
  // The server still runs, but holds the session no more.
  EXPECT_TRUE(client_.expired());
  Status after = Walk();
  ASSERT_FALSE(after);
  EXPECT_NE(after.error().message().find("session has ended"), std::string::npos)
      << after.error().message();
}

TEST(SessionLenderTest, TakeBackWaitsForTheLeasesAndGivesUpAfterItsWait) {
  auto session = std::make_shared<ClientSession>();
  std::weak_ptr<ClientSession> weak = session;
  internal::SessionLender lender(std::move(session));
  auto lease = std::make_unique<internal::SessionLender::Lease>(lender.Borrow());
  ASSERT_TRUE(*lease);
  // A call holds it: taking it back gives up after its wait, and the session stays lent.
  EXPECT_FALSE(lender.TakeBack(20ms));
  EXPECT_TRUE(lender.Borrow());
  EXPECT_FALSE(weak.expired());
  // Once the call returns (on another thread here), the session goes.
  std::thread call([&] {
    std::this_thread::sleep_for(50ms);
    lease.reset();
  });
  EXPECT_TRUE(lender.TakeBack(5s));
  call.join();
  EXPECT_TRUE(weak.expired());
  EXPECT_FALSE(lender.Borrow());
}

}  // namespace
}  // namespace hoist::session
