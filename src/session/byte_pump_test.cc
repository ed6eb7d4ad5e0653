// PumpBytes: a session's HTTP/2 carried over a stream of messages, as over Control.Session.
#include "session/byte_pump.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "session/client_session.h"
#include "session/remote_session.h"
#include "session/session_server.h"

namespace hoist::session {
namespace {

// One direction of an in-memory message stream.
class Queue {
 public:
  void Push(std::string m) {
    std::lock_guard lock(mu_);
    q_.push_back(std::move(m));
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  bool Pop(std::string* m) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    *m = std::move(q_.front());
    q_.pop_front();
    ++popped_;
    return true;
  }
  size_t popped() {
    std::lock_guard lock(mu_);
    return popped_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> q_;
  bool closed_ = false;
  size_t popped_ = 0;
};

// One end of a duplex made of two queues.
class End final : public MessageStream {
 public:
  End(Queue* in, Queue* out) : in_(in), out_(out) {}
  bool Read(std::string* data) override { return in_->Pop(data); }
  bool Write(std::string_view data) override {
    out_->Push(std::string(data));
    return true;
  }
  void CloseWrite() override { out_->Close(); }

 private:
  Queue* in_;
  Queue* out_;
};

TEST(BytePumpTest, CopiesBothWaysAndEnds) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  Queue to_socket, from_socket;
  End end(&to_socket, &from_socket);
  Status pumped = OkStatus();
  std::thread pump([&] { pumped = PumpBytes(UniqueFd(fds[0]), end); });
  to_socket.Push("hello ");
  to_socket.Push("world");
  to_socket.Close();
  std::string got(11, '\0');
  size_t have = 0;
  while (have < got.size()) {
    ssize_t n = read(fds[1], got.data() + have, got.size() - have);
    ASSERT_GT(n, 0);
    have += static_cast<size_t>(n);
  }
  EXPECT_EQ(got, "hello world");
  char c;
  EXPECT_EQ(read(fds[1], &c, 1), 0) << "the stream's end reaches the socket";
  ASSERT_EQ(write(fds[1], "back", 4), 4);
  close(fds[1]);
  pump.join();
  EXPECT_TRUE(pumped) << pumped.error().message();
  std::string all, m;
  while (from_socket.Pop(&m)) all += m;
  EXPECT_EQ(all, "back");
}

// The whole chain: SessionServer ↔ socket ↔ pump ↔ messages ↔ pump ↔ socket ↔ RemoteSession.
TEST(BytePumpTest, ASessionRunsOverMessages) {
  auto tmp = *TempDir::Create("byte-pump-");
  WriteTestFile(tmp.path() + "/Dockerfile", "FROM scratch\n");
  WriteTestFile(tmp.path() + "/big", std::string(3 << 20, 'b'));
  auto client = std::make_shared<ClientSession>();
  ASSERT_TRUE(client->AttachLocalDir("context", tmp.path()));
  setenv("HOIST_BYTE_PUMP_SECRET", "pumped", 1);
  ASSERT_TRUE(client->AttachSecretEnv("s", "HOIST_BYTE_PUMP_SECRET"));

  int client_fds[2], engine_fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client_fds), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, engine_fds), 0);
  Queue up, down;  // client → engine, engine → client
  End client_end(&down, &up), engine_end(&up, &down);
  std::thread client_pump([&] { (void)PumpBytes(UniqueFd(client_fds[1]), client_end); });
  std::thread engine_pump([&] { (void)PumpBytes(UniqueFd(engine_fds[1]), engine_end); });
  {
    auto server = *SessionServer::Start(client, UniqueFd(client_fds[0]));
    auto info = *ParseSessionMetadata(SessionMetadata(*client, "pump"));
    auto remote = *RemoteSession::Connect(info, UniqueFd(engine_fds[0]));
    EXPECT_EQ(*remote->Secret("s"), "pumped");
    auto dir = remote->LocalDir("context");
    ASSERT_TRUE(dir) << dir.error().message();
    size_t entries = 0;
    ASSERT_TRUE((*dir)->Walk({}, [&](const FileEntry&) -> Status {
      ++entries;
      return {};
    }));
    EXPECT_EQ(entries, 2u);
    std::string big;
    ASSERT_TRUE((*dir)->ReadFile("big", [&](std::string_view c) -> Status {
      big.append(c);
      return {};
    }));
    EXPECT_EQ(big.size(), size_t{3} << 20);
    dir->reset();
    remote.reset();
    server->Shutdown();
  }
  // The sockets closed: both pumps end.
  client_pump.join();
  engine_pump.join();
  EXPECT_GT(up.popped(), 10u);
  unsetenv("HOIST_BYTE_PUMP_SECRET");
}

}  // namespace
}  // namespace hoist::session
