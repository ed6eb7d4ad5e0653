// Registry credentials over the session (BuildKit's moby.filesync.v1.Auth): the client answers
// Credentials from what it attached; the engine gets them in process or over gRPC alike, and
// what BuildKit's daemon asks first (GetTokenAuthority) is Unimplemented, so that it falls back
// to Credentials.
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <mutex>
#include <vector>

#include "api/session/auth.grpc.pb.h"
#include "base/unique_fd.h"
#include "session/client_session.h"
#include "session/session_server.h"
#include "session/testing/session_pair.h"

namespace hoist::session {
namespace {

namespace fs = moby::filesync::v1;
using testing::SessionPair;
using testing::Transport;

class SessionAuthTest : public ::testing::TestWithParam<Transport> {
 protected:
  ClientSession& client() { return pair_.client(); }
  Session& engine() { return pair_.engine(); }

  // A lookup that knows one user on `registry.test:5000`, an identity token on
  // `tokens.test`, and fails for `broken.test`; it records the hosts it was asked for.
  void AttachFakeLookup() {
    ASSERT_TRUE(client().AttachRegistryCredentials(
        [this](std::string_view host) -> Result<std::optional<RegistryCredentials>> {
          {
            std::lock_guard lock(mu_);
            asked_.emplace_back(host);
          }
          if (host == "registry.test:5000") {
            return RegistryCredentials{.username = "alice", .secret = "pa55word"};
          }
          if (host == "tokens.test") return RegistryCredentials{.username = "", .secret = "refresh"};
          if (host == "broken.test") {
            return MakeError(Code::kFailedPrecondition,
                             "credential helper docker-credential-nope not found");
          }
          return std::optional<RegistryCredentials>();
        }));
  }

  std::vector<std::string> Asked() {
    std::lock_guard lock(mu_);
    return asked_;
  }

  SessionPair pair_{GetParam()};
  std::mutex mu_;
  std::vector<std::string> asked_;
};

INSTANTIATE_TEST_SUITE_P(Transports, SessionAuthTest,
                         ::testing::Values(Transport::kInProcess, Transport::kGrpc),
                         [](const auto& info) { return testing::TransportName(info.param); });

TEST_P(SessionAuthTest, CredentialsComeFromTheClientsLookupPerHost) {
  AttachFakeLookup();
  auto user = engine().Credentials("registry.test:5000");
  ASSERT_TRUE(user) << user.error().message();
  ASSERT_TRUE(user->has_value());
  EXPECT_EQ((*user)->username, "alice");
  EXPECT_EQ((*user)->secret, "pa55word");
  auto token = engine().Credentials("tokens.test");
  ASSERT_TRUE(token) << token.error().message();
  ASSERT_TRUE(token->has_value());
  EXPECT_EQ((*token)->username, "");
  EXPECT_EQ((*token)->secret, "refresh");
  auto none = engine().Credentials("elsewhere.test");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE(none->has_value());
  // Asked each time, with the host as the engine gave it.
  EXPECT_EQ(Asked(), (std::vector<std::string>{"registry.test:5000", "tokens.test",
                                               "elsewhere.test"}));
}

TEST_P(SessionAuthTest, ALookupFailureKeepsItsCodeAndNamesNoSecret) {
  AttachFakeLookup();
  auto broken = engine().Credentials("broken.test");
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(broken.error().message().find("docker-credential-nope not found"), std::string::npos)
      << broken.error().message();
  EXPECT_EQ(broken.error().message().find("pa55word"), std::string::npos);
}

TEST_P(SessionAuthTest, WithoutALookupTheSessionLendsNothing) {
  EXPECT_FALSE(client().HasRegistryCredentials());
  auto none = engine().Credentials("registry.test:5000");
  ASSERT_TRUE(none) << none.error().message();
  EXPECT_FALSE(none->has_value());
  if (RemoteSession* r = pair_.remote()) {
    EXPECT_FALSE(r->Supports("/moby.filesync.v1.Auth/Credentials"));
  }
}

TEST_P(SessionAuthTest, AttachingTwiceIsRefused) {
  AttachFakeLookup();
  EXPECT_TRUE(client().HasRegistryCredentials());
  auto again = client().AttachRegistryCredentials(
      [](std::string_view) -> Result<std::optional<RegistryCredentials>> { return std::nullopt; });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
  if (RemoteSession* r = pair_.remote()) {
    EXPECT_TRUE(r->Supports("/moby.filesync.v1.Auth/Credentials"));
  }
}

// What BuildKit's daemon does against a hoist client, on the wire: GetTokenAuthority first
// (Unimplemented: no client-side tokens), then Credentials.
TEST(SessionAuthWireTest, TokenAuthorityIsUnimplementedAndCredentialsAnswer) {
  auto client = std::make_shared<ClientSession>();
  ASSERT_TRUE(client->AttachRegistryCredentials(
      [](std::string_view host) -> Result<std::optional<RegistryCredentials>> {
        if (host == "registry-1.docker.io") {
          return RegistryCredentials{.username = "bob", .secret = "hunter2"};
        }
        return std::optional<RegistryCredentials>();
      }));
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  auto server = SessionServer::Start(client, UniqueFd(fds[0]));
  ASSERT_TRUE(server) << server.error().message();
  // gRPC's poller needs a non-blocking socket.
  ASSERT_EQ(::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK), 0);
  auto channel = grpc::CreateInsecureChannelFromFd("localhost", fds[1]);
  auto stub = fs::Auth::NewStub(channel);

  {
    grpc::ClientContext ctx;
    fs::GetTokenAuthorityRequest req;
    req.set_host("registry-1.docker.io");
    req.set_salt(std::string(32, 's'));
    fs::GetTokenAuthorityResponse resp;
    EXPECT_EQ(stub->GetTokenAuthority(&ctx, req, &resp).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    grpc::ClientContext ctx;
    fs::VerifyTokenAuthorityRequest req;
    req.set_host("registry-1.docker.io");
    fs::VerifyTokenAuthorityResponse resp;
    EXPECT_EQ(stub->VerifyTokenAuthority(&ctx, req, &resp).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    grpc::ClientContext ctx;
    fs::FetchTokenRequest req;
    req.set_host("registry-1.docker.io");
    fs::FetchTokenResponse resp;
    EXPECT_EQ(stub->FetchToken(&ctx, req, &resp).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    grpc::ClientContext ctx;
    fs::CredentialsRequest req;
    req.set_host("registry-1.docker.io");
    fs::CredentialsResponse resp;
    ASSERT_TRUE(stub->Credentials(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.username(), "bob");
    EXPECT_EQ(resp.secret(), "hunter2");
  }
  {
    // None: an empty answer, as BuildKit's client gives, not an error.
    grpc::ClientContext ctx;
    fs::CredentialsRequest req;
    req.set_host("quay.io");
    fs::CredentialsResponse resp;
    ASSERT_TRUE(stub->Credentials(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.username(), "");
    EXPECT_EQ(resp.secret(), "");
  }
  // What the client advertises: Credentials only.
  const auto md = SessionMetadata(*client, "ctx");
  int auth_methods = 0;
  for (const auto& [k, v] : md) {
    if (k == "x-docker-expose-session-grpc-method" && v.starts_with("/moby.filesync.v1.Auth/")) {
      ++auth_methods;
      EXPECT_EQ(v, "/moby.filesync.v1.Auth/Credentials");
    }
  }
  EXPECT_EQ(auth_methods, 1);
  (*server)->Shutdown();
}

}  // namespace
}  // namespace hoist::session
