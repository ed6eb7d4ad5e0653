#include "control/session_credentials.h"

#include <gtest/gtest.h>

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace hoist::control {
namespace {

// A session that lends what `answer` gives and records the hosts it was asked for.
class FakeSession final : public session::Session {
 public:
  using Answer = std::function<Result<std::optional<session::RegistryCredentials>>()>;
  FakeSession(std::string id, Answer answer) : id_(std::move(id)), answer_(std::move(answer)) {}

  const std::string& id() const override { return id_; }
  const std::string& shared_key() const override { return shared_key_; }
  Result<std::shared_ptr<content::ContentStore>> OciStore(std::string_view) override {
    return MakeError(Code::kNotFound, "none");
  }
  Result<std::shared_ptr<session::ClientDir>> LocalDir(std::string_view) override {
    return MakeError(Code::kNotFound, "none");
  }
  Result<std::string> Secret(std::string_view) override {
    return MakeError(Code::kNotFound, "none");
  }
  Result<std::optional<session::RegistryCredentials>> Credentials(std::string_view host) override {
    std::lock_guard lock(mu_);
    asked_.emplace_back(host);
    return answer_();
  }
  std::vector<std::string> asked() {
    std::lock_guard lock(mu_);
    return asked_;
  }

 private:
  std::string id_, shared_key_;
  Answer answer_;
  std::mutex mu_;
  std::vector<std::string> asked_;
};

using Lent = std::optional<session::RegistryCredentials>;

TEST(SessionCredentialsTest, UsernameAndPasswordOrAnIdentityToken) {
  session::SessionManager sessions;
  auto user = std::make_shared<FakeSession>("user", [] {
    return Result<Lent>(session::RegistryCredentials{.username = "alice", .secret = "pw"});
  });
  auto token = std::make_shared<FakeSession>("token", [] {
    return Result<Lent>(session::RegistryCredentials{.username = "", .secret = "refresh"});
  });
  auto none = std::make_shared<FakeSession>("none", [] { return Result<Lent>(Lent()); });
  ASSERT_TRUE(sessions.Register(user));
  ASSERT_TRUE(sessions.Register(token));
  ASSERT_TRUE(sessions.Register(none));

  auto a = SessionCredentials(&sessions, {"user"}).Get("127.0.0.1:5000");
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->username, "alice");
  EXPECT_EQ((*a)->password, "pw");
  EXPECT_EQ((*a)->identity_token, "");
  EXPECT_EQ(user->asked(), std::vector<std::string>{"127.0.0.1:5000"});

  // Docker Hub is asked for by the host the engine dials, as BuildKit asks.
  auto t = SessionCredentials(&sessions, {"token"}).Get("docker.io");
  ASSERT_TRUE(t) << t.error().message();
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->username, "");
  EXPECT_EQ((*t)->password, "");
  EXPECT_EQ((*t)->identity_token, "refresh");
  EXPECT_EQ(token->asked(), std::vector<std::string>{"registry-1.docker.io"});

  auto n = SessionCredentials(&sessions, {"none", "user"}).Get("ghcr.io");
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_FALSE(n->has_value()) << "the first session that answers decides, even with nothing";
}

TEST(SessionCredentialsTest, AFailingSessionGivesWayToTheNextAndErrorsKeepTheirCode) {
  session::SessionManager sessions;
  auto broken = std::make_shared<FakeSession>("broken", [] {
    return Result<Lent>(MakeError(Code::kFailedPrecondition, "credential helper failed"));
  });
  auto user = std::make_shared<FakeSession>("user", [] {
    return Result<Lent>(session::RegistryCredentials{.username = "bob", .secret = "pw"});
  });
  ASSERT_TRUE(sessions.Register(broken));
  ASSERT_TRUE(sessions.Register(user));
  auto a = SessionCredentials(&sessions, {"broken", "user"}).Get("r.test");
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->username, "bob");
  auto e = SessionCredentials(&sessions, {"broken"}).Get("r.test");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(e.error().message(), "credential helper failed");
}

}  // namespace
}  // namespace hoist::control
