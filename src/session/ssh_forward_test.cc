#include "session/ssh_forward.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "base/temp_dir.h"
#include "session/client_session.h"

namespace hoist::session {
namespace {

std::string Frame(std::string_view body) {
  std::string out(4, '\0');
  const uint32_t n = static_cast<uint32_t>(body.size());
  out[0] = static_cast<char>(n >> 24);
  out[1] = static_cast<char>(n >> 16);
  out[2] = static_cast<char>(n >> 8);
  out[3] = static_cast<char>(n);
  return out + std::string(body);
}

std::string ReadFrame(int fd) {
  unsigned char len[4];
  if (::recv(fd, len, 4, MSG_WAITALL) != 4) return "<closed>";
  const uint32_t n = (uint32_t{len[0]} << 24) | (uint32_t{len[1]} << 16) |
                     (uint32_t{len[2]} << 8) | len[3];
  std::string body(n, '\0');
  if (::recv(fd, body.data(), n, MSG_WAITALL) != static_cast<ssize_t>(n)) return "<short>";
  return body;
}

// A stand-in agent on a unix socket: answers every request with "\x0c" + the request's type,
// and records the types it saw.
class FakeAgent {
 public:
  explicit FakeAgent(const std::string& path) : path_(path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    EXPECT_EQ(::listen(listener_, 8), 0);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(listener_, nullptr, nullptr);
        if (c < 0) return;
        for (;;) {
          std::string req = ReadFrame(c);
          if (req.empty() || req[0] == '<') break;
          seen_.push_back(static_cast<uint8_t>(req[0]));
          std::string answer = Frame(std::string("\x0c") + req[0]);
          (void)!::send(c, answer.data(), answer.size(), MSG_NOSIGNAL);
        }
        ::close(c);
      }
    });
  }
  ~FakeAgent() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  std::vector<uint8_t> seen() const { return seen_; }

 private:
  std::string path_;
  int listener_ = -1;
  std::thread thread_;
  std::vector<uint8_t> seen_;
};

TEST(SSHForward, TheClientRelaysOnlyListingAndSigning) {
  auto dir = TempDir::Create("hoist-ssh-test-");
  ASSERT_TRUE(dir);
  const std::string agent_path = dir->path() + "/agent";
  std::vector<uint8_t> seen;
  {
    FakeAgent agent(agent_path);
    ClientSession session("key");
    ASSERT_TRUE(session.AttachSSHAgent("default", agent_path));
    EXPECT_TRUE(session.HasSSH());
    EXPECT_TRUE(session.CheckSSH("default"));
    auto missing = session.CheckSSH("other");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message(), "no SSH key \"other\" forwarded from the client");
    EXPECT_FALSE(session.ForwardSSH("other"));

    auto conn = session.ForwardSSH("default");
    ASSERT_TRUE(conn) << conn.error().message();
    for (uint8_t type : {11, 17, 13, 18, 22, 27}) {
      std::string req = Frame(std::string(1, static_cast<char>(type)) + "payload");
      ASSERT_EQ(::send(conn->get(), req.data(), req.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(req.size()));
      std::string answer = ReadFrame(conn->get());
      if (type == 11 || type == 13) {
        EXPECT_EQ(answer, std::string("\x0c") + static_cast<char>(type)) << int(type);
      } else {
        EXPECT_EQ(answer, "\x05") << int(type);  // SSH_AGENT_FAILURE, the agent never asked
      }
    }
    // A frame announcing more than the bound ends the connection.
    std::string huge = Frame(std::string(1, 11));
    huge[0] = 0x7f;
    (void)!::send(conn->get(), huge.data(), huge.size(), MSG_NOSIGNAL);
    EXPECT_EQ(ReadFrame(conn->get()), "<closed>");
    conn->Reset();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    seen = agent.seen();
  }
  EXPECT_EQ(seen, (std::vector<uint8_t>{11, 13}));
}

TEST(SSHForward, AnAgentSocketJoinsEachConnectionToAForwardedOne) {
  auto dir = TempDir::Create("hoist-ssh-test-");
  ASSERT_TRUE(dir);
  const std::string agent_path = dir->path() + "/agent";
  FakeAgent agent(agent_path);
  ClientSession session("key");
  ASSERT_TRUE(session.AttachSSHAgent("default", agent_path));
  std::atomic<int> connects{0};
  auto sock = AgentSocket::Listen(dir->path(), 1234, 5678, 0600, [&]() {
    ++connects;
    return session.ForwardSSH("default");
  });
  ASSERT_TRUE(sock) << sock.error().message();
  const std::string path = (*sock)->path();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  for (int i = 0; i < 3; ++i) {
    int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    std::string req = Frame("\x0bhello");
    ASSERT_EQ(::send(c, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    EXPECT_EQ(ReadFrame(c), "\x0c\x0b");
    ::close(c);
  }
  EXPECT_EQ(connects.load(), 3);
  // A connection left open does not keep the socket from closing.
  int idle = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, path.c_str(), sizeof(a.sun_path) - 1);
  ASSERT_EQ(::connect(idle, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  sock->reset();
  EXPECT_NE(::stat(path.c_str(), &st), 0) << "the socket's directory is removed";
  ::close(idle);
}

}  // namespace
}  // namespace hoist::session
