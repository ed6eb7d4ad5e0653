#include "session/session_manager.h"

#include <gtest/gtest.h>

#include <thread>

#include "session/client_session.h"

namespace hoist::session {
namespace {

using namespace std::chrono_literals;

TEST(SessionManagerTest, RegisterGetUnregister) {
  SessionManager m;
  auto s = std::make_shared<ClientSession>("s1", "");
  ASSERT_TRUE(m.Register(s));
  auto got = m.Get("s1", 10ms);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->get(), s.get());
  auto dup = m.Register(std::make_shared<ClientSession>("s1", ""));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.error().message(), "session s1 is already registered");
  m.Unregister("s1");
  m.Unregister("s1");  // again: nothing happens
  auto gone = m.Get("s1", 10ms);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), Code::kDeadlineExceeded);
  EXPECT_EQ(gone.error().message(), "no active session for s1: timed out");
  auto empty = m.Get("", 10ms);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message(), "no session ID given");
  auto bad = m.Register(nullptr);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "cannot register a session without an ID");
}

TEST(SessionManagerTest, GetWaitsForALateSession) {
  SessionManager m;
  std::thread t([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(m.Register(std::make_shared<ClientSession>("late", "")));
  });
  auto start = std::chrono::steady_clock::now();
  auto got = m.Get("late", 5s);
  t.join();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ((*got)->id(), "late");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
}

TEST(SessionManagerTest, GetIsCancellable) {
  SessionManager m;
  auto ctx = CancelContext::Background();
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    ctx->Cancel("build cancelled");
  });
  auto got = m.Get("never", 10s, ctx.get());
  t.join();
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), Code::kCancelled);
}

TEST(SessionManagerTest, AnyTriesTheBuildsSessionsInOrder) {
  SessionManager m;
  auto a = std::make_shared<ClientSession>("a", "");
  auto b = std::make_shared<ClientSession>("b", "");
  ASSERT_TRUE(m.Register(a));
  ASSERT_TRUE(m.Register(b));
  ASSERT_TRUE(b->AttachSecretEnv("tok", "HOME"));
  std::vector<std::string> tried;
  std::string value;
  auto st = m.Any(
      {"missing", "a", "b"},
      [&](Session& s) -> Status {
        tried.push_back(s.id());
        HOIST_ASSIGN_OR_RETURN(value, s.Secret("tok"));
        return {};
      },
      10ms);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(tried, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(value.empty());

  auto fail = m.Any(
      {"a"}, [](Session& s) -> Status { return s.Secret("tok").map([](auto&&) {}); }, 10ms);
  ASSERT_FALSE(fail);
  EXPECT_EQ(fail.error().message(), "secret tok not found");

  auto none = m.Any({}, [](Session&) -> Status { return {}; });
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Code::kUnavailable);
  EXPECT_EQ(none.error().message(), "no active sessions");
}

}  // namespace
}  // namespace hoist::session
