#include "control/direct_sessions.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/testing/test_files.h"
#include "base/temp_dir.h"
#include "session/client_session.h"
#include "session/direct_session.h"
#include "session/session_server.h"

namespace hoist::control {
namespace {

using namespace std::chrono_literals;

class DirectSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_end_ = UniqueFd(fds[0]);
    daemon_end_ = UniqueFd(fds[1]);
  }

  // Offers `client_end_` with `metadata` while the daemon's side takes it as hoistd's accept
  // loop does; the client's verdict.
  Status Offer(const session::SessionHeaders& metadata) {
    Status offered = OkStatus();
    std::thread offer([&] {
      offered = session::OfferDirectSession(client_end_.get(), metadata, 10s);
    });
    const bool recognised = session::IsDirectSessionOffer(daemon_end_.get(), 10s);
    EXPECT_TRUE(recognised);
    if (recognised) direct_.Serve(std::move(daemon_end_));
    offer.join();
    return offered;
  }

  // Whether the manager still has the session `id` (it goes once the client hangs up).
  bool Registered(const std::string& id) { return static_cast<bool>(manager_.Get(id, 1ms)); }

  UniqueFd client_end_, daemon_end_;
  session::SessionManager manager_;
  DirectSessions direct_{&manager_};
};

TEST_F(DirectSessionsTest, TheEngineReachesTheClientOverTheConnection) {
  auto tmp = *TempDir::Create("direct-session-");
  WriteTestFile(tmp.path() + "/f", "over the connection");
  auto client = std::make_shared<session::ClientSession>();
  ASSERT_TRUE(client->AttachLocalDir("context", tmp.path()));
  ASSERT_TRUE(Offer(session::SessionMetadata(*client, "test")));
  auto server = session::SessionServer::Start(client, std::move(client_end_));
  ASSERT_TRUE(server) << server.error().message();

  auto s = manager_.Get(client->id(), 10s);
  ASSERT_TRUE(s) << s.error().message();
  auto dir = (*s)->LocalDir("context");
  ASSERT_TRUE(dir) << dir.error().message();
  auto file = (*dir)->OpenFile("f");
  ASSERT_TRUE(file) << file.error().message();
  char buf[64] = {};
  auto n = (*file)->ReadAt(0, buf, sizeof(buf));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(std::string(buf, *n), "over the connection");
  // A directory the client does not have is said so on first use.
  auto none = (*s)->LocalDir("dockerfile");
  ASSERT_TRUE(none);
  auto missing = (*none)->OpenFile("Dockerfile");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message(), "unknown local dir dockerfile");

  // The client hangs up: the session goes.
  (*server)->Shutdown();
  server->reset();
  for (int i = 0; i < 500 && Registered(client->id()); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(Registered(client->id()));
}

TEST_F(DirectSessionsTest, AnOfferWithoutASessionIdIsRefused) {
  Status st = Offer({{"x-docker-expose-session-name", "nameless"}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(st.error().message().find("no session ID"), std::string::npos) << st.error().message();
}

TEST_F(DirectSessionsTest, MalformedOffersAreRefusedAndNothingIsRegistered) {
  const std::string magic = session::kDirectSessionMagic;
  for (const std::string& bad :
       {magic + "12\n{\"not\":\"ar\"}", magic + "x\n[]", magic + "99999999\n",
        magic + "5\n[[1,2]]", magic + "20\n[[\"a\",\"b\",\"c\"]]     "}) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    UniqueFd client(fds[0]);
    ASSERT_EQ(::write(client.get(), bad.data(), bad.size()), static_cast<ssize_t>(bad.size()));
    ASSERT_TRUE(session::IsDirectSessionOffer(fds[1], 10s)) << bad;
    direct_.Serve(UniqueFd(fds[1]));
    std::string answer;
    char c;
    while (::read(client.get(), &c, 1) == 1) answer.push_back(c);
    EXPECT_EQ(answer.rfind("ERR session connection: ", 0), 0u) << bad << " → " << answer;
  }
}

TEST_F(DirectSessionsTest, OnlyTheMagicIsAnOffer) {
  // What a gRPC client sends first, and nothing at all, are not offers.
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  ASSERT_EQ(::write(client_end_.get(), preface.data(), preface.size()),
            static_cast<ssize_t>(preface.size()));
  EXPECT_FALSE(session::IsDirectSessionOffer(daemon_end_.get(), 10s));
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]), b(fds[1]);
  EXPECT_FALSE(session::IsDirectSessionOffer(b.get(), 50ms));
  // The bytes looked at are still there for whoever takes the connection.
  char buf[64];
  EXPECT_EQ(::read(daemon_end_.get(), buf, sizeof(buf)), static_cast<ssize_t>(preface.size()));
}

TEST_F(DirectSessionsTest, AClientThatNeverAnswersIsGivenUp) {
  // The daemon's end never answers: the offer fails as unavailable, for the client to fall
  // back to Control.Session.
  Status st = session::OfferDirectSession(client_end_.get(), {{"k", "v"}}, 100ms);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kUnavailable);
  daemon_end_.Reset();
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd a(fds[0]);
  ::close(fds[1]);  // a daemon that hangs up (not hoistd)
  st = session::OfferDirectSession(a.get(), {{"k", "v"}}, 10s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kUnavailable);
}

TEST(DirectSessionsLimitTest, ConnectionsPastTheLimitAreClosedUnanswered) {
  session::SessionManager manager;
  DirectSessions direct(&manager, /*max_sessions=*/3);
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 4; ++i) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    clients.emplace_back(fds[0]);
    direct.Serve(UniqueFd(fds[1]));  // silent clients: each held while it may still speak
  }
  // The fourth is closed at once: its client sees the end of the connection, and an offer on
  // it fails as unavailable (the client then falls back to Control.Session).
  Status st = session::OfferDirectSession(clients[3].get(), {{"k", "v"}}, 10s);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), Code::kUnavailable);
  // The first three are still open.
  for (int i = 0; i < 3; ++i) {
    pollfd p{.fd = clients[i].get(), .events = POLLIN, .revents = 0};
    EXPECT_EQ(::poll(&p, 1, 0), 0) << i;
  }
  direct.Shutdown();
}

TEST_F(DirectSessionsTest, ShutdownEndsTheSessions) {
  auto client = std::make_shared<session::ClientSession>();
  ASSERT_TRUE(Offer(session::SessionMetadata(*client, "test")));
  auto server = session::SessionServer::Start(client, std::move(client_end_));
  ASSERT_TRUE(server);
  ASSERT_TRUE(manager_.Get(client->id(), 10s));
  direct_.Shutdown();
  EXPECT_FALSE(Registered(client->id()));
  (*server)->Shutdown();
}

}  // namespace
}  // namespace hoist::control
