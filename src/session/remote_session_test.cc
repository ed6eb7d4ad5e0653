// The gRPC session transport: BuildKit's metadata, file sync of whole trees, outputs (file,
// directory, OCI store) over both transports, and a client that refuses hostile output streams.
#include "session/remote_session.h"

#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "api/content/content.grpc.pb.h"
#include "api/fsutil/wire.pb.h"
#include "api/session/batch.pb.h"
#include "api/session/filesync.grpc.pb.h"
#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "content/content_store.h"
#include "content/local_content_store.h"
#include "session/internal/packet_stream.h"
#include "session/session_server.h"
#include "session/testing/session_pair.h"
#include "session/testing/test_layout.h"

namespace hoist::session {
namespace {

using fsutil::types::Packet;
using testing::SessionPair;
using testing::Transport;

std::string Bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

void SetTime(const std::string& path, int64_t sec, long nsec) {
  struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0) << path;
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

// ---- metadata ----

TEST(SessionMetadataTest, AdvertisesWhatIsAttached) {
  auto tmp = *TempDir::Create("session-md-");
  ClientSession s("id-1", "shared");
  auto names = [&] {
    std::vector<std::string> methods;
    for (const auto& [k, v] : SessionMetadata(s, "ctx")) {
      if (k == "x-docker-expose-session-grpc-method") methods.push_back(v);
    }
    return methods;
  };
  auto md = SessionMetadata(s, "ctx");
  ASSERT_GE(md.size(), 3u);
  EXPECT_EQ(md[0], (std::pair<std::string, std::string>{"x-docker-expose-session-uuid", "id-1"}));
  EXPECT_EQ(md[1], (std::pair<std::string, std::string>{"x-docker-expose-session-name", "ctx"}));
  EXPECT_EQ(md[2],
            (std::pair<std::string, std::string>{"x-docker-expose-session-sharedkey", "shared"}));
  EXPECT_EQ(names(), (std::vector<std::string>{"/grpc.health.v1.Health/Check",
                                               "/grpc.health.v1.Health/Watch"}));
  ASSERT_TRUE(s.AttachLocalDir("context", tmp.path()));
  ASSERT_TRUE(s.AttachSecretEnv("s", "X"));
  ASSERT_TRUE(s.AttachOutputFile(tmp.path() + "/out.tar"));
  EXPECT_EQ(
      names(),
      (std::vector<std::string>{
          "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
          "/hoist.filesync.v1.BatchedFileSync/DiffCopy",
          "/moby.buildkit.secrets.v1.Secrets/GetSecret", "/moby.filesync.v1.FileSend/DiffCopy",
          "/moby.filesync.v1.FileSync/DiffCopy", "/moby.filesync.v1.FileSync/TarStream"}));
  ASSERT_TRUE(s.AttachOutputLayout(tmp.path() + "/layout"));
  auto with_content = names();
  EXPECT_NE(std::find(with_content.begin(), with_content.end(),
                      "/containerd.services.content.v1.Content/Read"),
            with_content.end());
  EXPECT_NE(std::find(with_content.begin(), with_content.end(),
                      "/containerd.services.content.v1.Content/Write"),
            with_content.end());
}

TEST(SessionMetadataTest, ParseRoundTripAndCase) {
  ClientSession s("the-id", "key");
  auto info = ParseSessionMetadata(SessionMetadata(s, "name"));
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->id, "the-id");
  EXPECT_EQ(info->name, "name");
  EXPECT_EQ(info->shared_key, "key");
  EXPECT_EQ(info->methods.size(), 2u);

  auto mixed = ParseSessionMetadata(
      {{"X-Docker-Expose-Session-Uuid", "u"},
       {"X-Docker-Expose-Session-Grpc-Method", "/moby.filesync.v1.FileSync/DiffCopy, /a.B/C"}});
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->id, "u");
  EXPECT_EQ(mixed->methods,
            (std::vector<std::string>{"/moby.filesync.v1.FileSync/DiffCopy", "/a.B/C"}));
  auto none = ParseSessionMetadata({{"x-docker-expose-session-name", "n"}});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Code::kInvalidArgument);
}

TEST(SessionMetadataTest, SupportsIgnoresCase) {
  SessionPair pair(Transport::kGrpc);
  auto tmp = *TempDir::Create("session-md-");
  ASSERT_TRUE(pair.client().AttachLocalDir("context", tmp.path()));
  RemoteSession* r = pair.remote();
  EXPECT_TRUE(r->Supports("/moby.filesync.v1.FileSync/diffcopy"));
  EXPECT_FALSE(r->Supports("/moby.filesync.v1.FileSend/DiffCopy"));
  EXPECT_EQ(r->name(), "test");
  EXPECT_EQ(r->id(), pair.client().id());
}

// ---- file sync of a whole tree ----

// Over gRPC, with hoist's batched file sync and with BuildKit's DiffCopy alone.
class FileSyncTreeTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    tmp_ = *TempDir::Create("filesync-tree-");
    root_ = tmp_.path() + "/ctx";
    const std::string r = root_;
    ASSERT_EQ(testing::RunShell("mkdir -p '" + r + "/a/b/c' '" + r + "/empty' '" + r + "/z'"), 0);
    WriteTestFile(r + "/a/file.txt", "hello");
    WriteTestFile(r + "/a/b/c/deep", "deep");
    WriteTestFile(r + "/big.bin", Bytes(3 << 20, 7));
    WriteTestFile(r + "/empty.txt", "");
    WriteTestFile(r + "/exec.sh", "#!/bin/sh\n");
    WriteTestFile(r + "/setuid", "s");
    WriteTestFile(r + "/z/link1", "linked content");
    ASSERT_EQ(link((r + "/z/link1").c_str(), (r + "/a/link2").c_str()), 0);
    ASSERT_EQ(symlink("file.txt", (r + "/a/rel").c_str()), 0);
    ASSERT_EQ(symlink("/etc/passwd", (r + "/abs").c_str()), 0);
    ASSERT_EQ(symlink("../nowhere", (r + "/dangling").c_str()), 0);
    ASSERT_EQ(chmod((r + "/exec.sh").c_str(), 0755), 0);
    ASSERT_EQ(chmod((r + "/setuid").c_str(), 04750), 0);
    ASSERT_EQ(chmod((r + "/a/b").c_str(), 0750), 0);
    ASSERT_EQ(chmod((r + "/empty").c_str(), 0700), 0);
    int64_t t = 1600000000;
    for (const char* p :
         {"/a/file.txt", "/a/b/c/deep", "/big.bin", "/empty.txt", "/exec.sh", "/setuid", "/z/link1",
          "/a/rel", "/abs", "/dangling", "/a/b/c", "/a/b", "/a", "/empty", "/z"}) {
      SetTime(r + p, t++, 123456789);
    }
    ASSERT_TRUE(pair_.client().AttachLocalDir("context", root_));
  }

  std::map<std::string, FileEntry> Walk(ClientDir& dir, const WalkOptions& options = {}) {
    std::map<std::string, FileEntry> out;
    auto st = dir.Walk(options, [&](const FileEntry& e) -> Status {
      out[e.path] = e;
      return {};
    });
    EXPECT_TRUE(st) << st.error().message();
    return out;
  }

  std::string Read(ClientDir& dir, const std::string& path) {
    std::string data;
    auto st = dir.ReadFile(path, [&](std::string_view c) -> Status {
      data.append(c);
      return {};
    });
    EXPECT_TRUE(st) << path << ": " << st.error().message();
    return data;
  }

  TempDir tmp_;
  std::string root_;
  SessionPair pair_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Transports, FileSyncTreeTest,
                         ::testing::Values(Transport::kGrpc, Transport::kGrpcBuildKitMethods),
                         [](const auto& info) { return testing::TransportName(info.param); });

TEST_P(FileSyncTreeTest, RemoteWalkAndReadsEqualTheSource) {
  auto local = *pair_.client().LocalDir("context");
  auto remote = *pair_.engine().LocalDir("context");
  auto want = Walk(*local);
  auto got = Walk(*remote);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [path, w] : want) {
    SCOPED_TRACE(path);
    ASSERT_EQ(got.count(path), 1u);
    const FileEntry& g = got[path];
    EXPECT_EQ(g.mode, w.mode);
    EXPECT_EQ(g.uid, w.uid);
    EXPECT_EQ(g.gid, w.gid);
    EXPECT_EQ(g.size, w.size);
    EXPECT_EQ(g.mtime_ns, w.mtime_ns);
    EXPECT_EQ(g.link_target, w.link_target);
    EXPECT_EQ(g.hardlink_to, w.hardlink_to);
  }
  // What the walk says about the special entries.
  EXPECT_EQ(got["setuid"].mode, static_cast<uint32_t>(S_IFREG | 04750));
  EXPECT_EQ(got["a/b"].mode, static_cast<uint32_t>(S_IFDIR | 0750));
  EXPECT_EQ(got["a/b"].mtime_ns, int64_t{1600000011} * 1000000000 + 123456789);
  EXPECT_EQ(got["abs"].link_target, "/etc/passwd");
  EXPECT_TRUE(S_ISLNK(got["dangling"].mode));
  // The walk meets a/link2 first, so z/link1 is its hard link, with its size.
  EXPECT_EQ(got["a/link2"].hardlink_to, "");
  EXPECT_EQ(got["z/link1"].hardlink_to, "a/link2");
  EXPECT_EQ(got["z/link1"].size, 14);
  // The files, read on the walk's transfer.
  for (const auto& [path, w] : want) {
    if (!S_ISREG(w.mode)) continue;
    SCOPED_TRACE(path);
    EXPECT_EQ(Read(*remote, path), Read(*local, path));
  }
  // A file read twice, and one the walk left out, come on transfers of their own.
  EXPECT_EQ(Read(*remote, "a/file.txt"), "hello");
  WalkOptions only_a;
  only_a.include_patterns = {"a"};
  auto a = Walk(*remote, only_a);
  EXPECT_EQ(a.count("big.bin"), 0u);
  EXPECT_EQ(Read(*remote, "big.bin"), Bytes(3 << 20, 7));
  EXPECT_EQ(Read(*remote, "a/b/c/deep"), "deep");
}

TEST_P(FileSyncTreeTest, PrefetchedFilesArriveInAnyReadOrder) {
  ASSERT_EQ(::mkdir((root_ + "/many").c_str(), 0755), 0);
  for (int i = 0; i < 300; ++i) {
    WriteTestFile(root_ + "/many/" + std::to_string(1000 + i), std::string(i * 37, 'a' + i % 26));
  }
  auto remote = *pair_.engine().LocalDir("context");
  auto entries = Walk(*remote);
  std::vector<std::string> files;
  for (const auto& [path, e] : entries) {
    if (S_ISREG(e.mode) && e.hardlink_to.empty()) files.push_back(path);
  }
  ASSERT_GT(files.size(), 300u);
  remote->Prefetch(files);
  // In order, with files skipped, one read out of the pipeline in between, and one announced
  // file read again after its turn (each comes whole and right).
  for (size_t i = 0; i < files.size(); ++i) {
    if (i % 7 == 3) continue;
    SCOPED_TRACE(files[i]);
    if (i == 100) {
      EXPECT_EQ(Read(*remote, "a/file.txt"), "hello");
    }
    EXPECT_EQ(Read(*remote, files[i]), ReadTestFile(root_ + "/" + files[i]));
  }
  EXPECT_EQ(Read(*remote, files[3]).size(), static_cast<size_t>(entries[files[3]].size));
  // A fresh walk drops what was announced on the last one.
  Walk(*remote);
  remote->Prefetch({"big.bin", "many/1299"});
  EXPECT_EQ(Read(*remote, "many/1299"), std::string(299 * 37, 'a' + 299 % 26));
  EXPECT_EQ(Read(*remote, "big.bin"), Bytes(3 << 20, 7));
}

TEST_P(FileSyncTreeTest, FollowPathsSendTheLinkAndItsTarget) {
  ASSERT_EQ(symlink("a/b/c/deep", (root_ + "/Dockerfile").c_str()), 0);
  auto remote = *pair_.engine().LocalDir("context");
  WalkOptions follow;
  follow.follow_paths = {"Dockerfile"};
  auto got = Walk(*remote, follow);
  std::vector<std::string> paths;
  for (const auto& [p, e] : got) paths.push_back(p);
  EXPECT_EQ(paths, (std::vector<std::string>{"Dockerfile", "a", "a/b", "a/b/c", "a/b/c/deep"}));
  // The same through the in-process walk.
  auto local = *pair_.client().LocalDir("context");
  EXPECT_EQ(Walk(*local, follow).size(), got.size());
  // Reading through the link itself is refused; its target is read.
  auto f = remote->OpenFile("Dockerfile");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(Read(*remote, "a/b/c/deep"), "deep");
}

TEST_P(FileSyncTreeTest, NamesThatAreNotUtf8OrLookLikePatterns) {
  const std::string latin1 = std::string("caf") + '\xe9';
  WriteTestFile(root_ + "/" + latin1, "bytes");
  WriteTestFile(root_ + "/a[1]", "brackets");
  WriteTestFile(root_ + "/!bang", "bang");
  auto remote = *pair_.engine().LocalDir("context");
  auto got = Walk(*remote);
  EXPECT_EQ(got.count(latin1), 1u);
  EXPECT_EQ(Read(*remote, latin1), "bytes");
  // Without a walk, each is asked for by a pattern that matches only itself.
  auto fresh = *pair_.engine().LocalDir("context");
  EXPECT_EQ(Read(*fresh, latin1), "bytes");
  EXPECT_EQ(Read(*fresh, "a[1]"), "brackets");
  EXPECT_EQ(Read(*fresh, "!bang"), "bang");
}

TEST_P(FileSyncTreeTest, PatternsThatMetadataCannotCarryAreWidened) {
  const std::string utf8 = "caf\xc3\xa9";
  WriteTestFile(root_ + "/" + utf8 + ".txt", "utf8");
  WriteTestFile(root_ + "/cafe.txt", "ascii");
  auto remote = *pair_.engine().LocalDir("context");
  // An include pattern: the client sends at least what it selects.
  WalkOptions include;
  include.include_patterns = {utf8 + ".txt"};
  auto got = Walk(*remote, include);
  EXPECT_EQ(got.count(utf8 + ".txt"), 1u);
  EXPECT_EQ(got.count("big.bin"), 0u);
  // An exclude pattern is left out rather than widened (it would exclude cafe.txt too).
  WalkOptions exclude;
  exclude.exclude_patterns = {utf8 + ".txt"};
  EXPECT_EQ(Walk(*remote, exclude).count("cafe.txt"), 1u);
  // Follow paths and single reads find the file.
  WalkOptions follow;
  follow.follow_paths = {utf8 + ".txt"};
  EXPECT_EQ(Walk(*remote, follow).count(utf8 + ".txt"), 1u);
  auto fresh = *pair_.engine().LocalDir("context");
  EXPECT_EQ(Read(*fresh, utf8 + ".txt"), "utf8");
  // Names and store IDs are refused, not sent.
  auto dir = pair_.engine().LocalDir(utf8);
  ASSERT_FALSE(dir);
  auto store = pair_.engine().OciStore(utf8);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), Code::kInvalidArgument);
}

TEST_P(FileSyncTreeTest, InProcessWalkReportsHardLinks) {
  auto local = *pair_.client().LocalDir("context");
  auto got = Walk(*local);
  EXPECT_EQ(got["z/link1"].hardlink_to, "a/link2");
  EXPECT_EQ(got["z/link1"].size, 14);
}

// ---- batches of packets ----

using hoist::filesync::v1::PacketBatch;

// A stream of batches kept in memory: what was written, and what Read returns.
struct BatchLog {
  std::vector<PacketBatch> written;
  std::vector<PacketBatch> to_read;
  size_t read = 0;
  bool Write(const PacketBatch& b) {
    written.push_back(b);
    return true;
  }
  bool Read(PacketBatch* b) {
    if (read == to_read.size()) return false;
    *b = to_read[read++];
    return true;
  }
};
struct NoContext {
  bool cancelled = false;
  void TryCancel() { cancelled = true; }
};
using TestBatchStream = internal::BatchedPacketStream<BatchLog, NoContext, PacketBatch>;

Packet Data(uint32_t id, std::string data) {
  Packet p;
  p.set_type(Packet::PACKET_DATA);
  p.set_id(id);
  p.set_data(std::move(data));
  return p;
}

PacketBatch BatchOf(const std::vector<Packet>& packets) {
  PacketBatch b;
  for (const Packet& p : packets) internal::AppendToBatch(p, b.mutable_packets());
  return b;
}

std::vector<Packet> PacketsOf(const PacketBatch& b) {
  std::vector<Packet> out;
  size_t at = 0;
  bool bad = false;
  for (Packet p; internal::NextInBatch(b.packets(), &at, &p, &bad);) out.push_back(p);
  EXPECT_FALSE(bad);
  return out;
}

TEST(BatchedPacketStreamTest, PacketsSentWithMoreWaitForTheNextOneSentWithout) {
  BatchLog log;
  NoContext ctx;
  TestBatchStream s(&log, &ctx);
  ASSERT_TRUE(s.Send(Data(1, "a"), /*more=*/true));
  ASSERT_TRUE(s.Send(Data(1, ""), /*more=*/true));
  EXPECT_TRUE(log.written.empty());
  ASSERT_TRUE(s.Send(Data(2, "b")));
  ASSERT_EQ(log.written.size(), 1u);
  auto got = PacketsOf(log.written[0]);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].data(), "a");
  EXPECT_EQ(got[1].id(), 1u);
  EXPECT_EQ(got[1].data(), "");
  EXPECT_EQ(got[2].data(), "b");
  // Nothing is left to flush, and a packet alone goes out alone.
  ASSERT_TRUE(s.Flush());
  ASSERT_TRUE(s.Send(Data(3, "c")));
  ASSERT_EQ(log.written.size(), 2u);
  EXPECT_EQ(PacketsOf(log.written[1]).size(), 1u);
}

TEST(BatchedPacketStreamTest, AFullBatchGoesOutEvenWithMore) {
  BatchLog log;
  NoContext ctx;
  TestBatchStream s(&log, &ctx);
  const std::string chunk(100 << 10, 'x');
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(s.Send(Data(1, chunk), /*more=*/true));
  // 100 KiB packets: the third one takes a batch past its limit.
  ASSERT_EQ(log.written.size(), 1u);
  EXPECT_EQ(PacketsOf(log.written[0]).size(), 3u);
  ASSERT_TRUE(s.Flush());
  ASSERT_EQ(log.written.size(), 2u);
  EXPECT_EQ(PacketsOf(log.written[1]).size(), 2u);
  for (const auto& b : log.written) EXPECT_LE(b.ByteSizeLong(), internal::kMaxBatchBytes + chunk.size() + 64);
}

TEST(BatchedPacketStreamTest, OnOneThreadWhatWaitsGoesOutBeforeARecvWaits) {
  BatchLog log;
  log.to_read = {BatchOf({Data(1, "a"), Data(1, "")})};
  NoContext ctx;
  TestBatchStream s(&log, &ctx, /*one_thread=*/true);
  ASSERT_TRUE(s.Send(Data(7, "req"), /*more=*/true));
  EXPECT_TRUE(log.written.empty());
  Packet p;
  ASSERT_TRUE(s.Recv(&p));
  ASSERT_EQ(log.written.size(), 1u);
  // A packet already received needs no wait: what is sent meanwhile stays in the batch.
  ASSERT_TRUE(s.Send(Data(8, "req"), /*more=*/true));
  ASSERT_TRUE(s.Recv(&p));
  EXPECT_EQ(log.written.size(), 1u);
  EXPECT_FALSE(s.Recv(&p));
  ASSERT_EQ(log.written.size(), 2u);
  EXPECT_EQ(PacketsOf(log.written[1]).at(0).id(), 8u);
}

TEST(BatchedPacketStreamTest, ReceivedBatchesComeOutPacketByPacketInOrder) {
  BatchLog log;
  // An empty batch carries nothing.
  log.to_read = {BatchOf({Data(1, "a"), Data(1, "")}), PacketBatch(), BatchOf({Data(2, "b")})};
  NoContext ctx;
  TestBatchStream s(&log, &ctx);
  std::vector<std::pair<uint32_t, std::string>> got;
  for (Packet p; s.Recv(&p);) got.emplace_back(p.id(), p.data());
  EXPECT_EQ(got, (std::vector<std::pair<uint32_t, std::string>>{{1, "a"}, {1, ""}, {2, "b"}}));
  EXPECT_FALSE(ctx.cancelled);
}

TEST(BatchedPacketStreamTest, ABatchThatIsNotPacketsEndsTheStream) {
  std::string ok = BatchOf({Data(1, "a")}).packets();
  Packet stranger = Data(2, "b");
  stranger.GetReflection()->MutableUnknownFields(&stranger)->AddVarint(99, 1);
  std::string unknown;
  internal::AppendToBatch(stranger, &unknown);
  // A length past the end, bytes that are not a packet, a packet with a field it has not.
  for (const std::string& bad : {ok + std::string("\x7f", 1) + "ab", ok + "\x02\xff\xff", ok + unknown}) {
    BatchLog log;
    PacketBatch b;
    b.set_packets(bad);
    log.to_read = {b, BatchOf({Data(3, "never")})};
    NoContext ctx;
    TestBatchStream s(&log, &ctx);
    Packet p;
    ASSERT_TRUE(s.Recv(&p));
    EXPECT_EQ(p.data(), "a");
    EXPECT_FALSE(s.Recv(&p));
    EXPECT_TRUE(ctx.cancelled);
  }
}

// ---- outputs over both transports ----

class OutputTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { tmp_ = *TempDir::Create("session-output-"); }
  std::string Path(const std::string& p) const { return tmp_.path() + "/" + p; }
  // Names in a directory (temp files included).
  std::vector<std::string> List(const std::string& dir) { return *PosixFileSystem()->ListDir(dir); }

  TempDir tmp_;
  SessionPair pair_{GetParam()};
};

INSTANTIATE_TEST_SUITE_P(Transports, OutputTest,
                         ::testing::Values(Transport::kInProcess, Transport::kGrpc,
                                           Transport::kGrpcBuildKitMethods),
                         [](const auto& info) { return testing::TransportName(info.param); });

TEST_P(OutputTest, TarArrivesWholeOnlyAtCommit) {
  ASSERT_EQ(mkdir(Path("out").c_str(), 0755), 0);
  ASSERT_TRUE(pair_.client().AttachOutputFile(Path("out/image.tar")));
  const std::string data = Bytes((5 << 20) + 3, 1);
  auto file = pair_.engine().OpenOutputTar({{"image.name", "x"}});
  ASSERT_TRUE(file) << file.error().message();
  for (size_t off = 0; off < data.size(); off += 300000) {
    ASSERT_TRUE((*file)->Write(std::string_view(data).substr(off, 300000)));
  }
  EXPECT_FALSE(Exists(Path("out/image.tar")));
  auto st = (*file)->Commit();
  ASSERT_TRUE(st) << st.error().message();
  file->reset();
  EXPECT_EQ(ReadTestFile(Path("out/image.tar")), data);
  EXPECT_EQ(List(Path("out")), std::vector<std::string>{"image.tar"});
}

TEST_P(OutputTest, AbortedTarLeavesNothing) {
  ASSERT_EQ(mkdir(Path("out").c_str(), 0755), 0);
  ASSERT_TRUE(pair_.client().AttachOutputFile(Path("out/image.tar")));
  {
    auto file = pair_.engine().OpenOutputTar({});
    ASSERT_TRUE(file) << file.error().message();
    ASSERT_TRUE((*file)->Write(Bytes(3 << 20, 2)));
  }
  // The client's side notices the cancelled call on its own thread.
  for (int i = 0; i < 100 && !List(Path("out")).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(List(Path("out")).empty());
  // An existing file keeps its contents when an export is aborted, and a later one works.
  WriteTestFile(Path("out/image.tar"), "old");
  {
    auto file = pair_.engine().OpenOutputTar({});
    ASSERT_TRUE(file) << file.error().message();
    ASSERT_TRUE((*file)->Write("new"));
  }
  for (int i = 0; i < 100 && List(Path("out")).size() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ReadTestFile(Path("out/image.tar")), "old");
  auto file = pair_.engine().OpenOutputTar({});
  ASSERT_TRUE(file) << file.error().message();
  ASSERT_TRUE((*file)->Write("new"));
  auto committed = (*file)->Commit();
  ASSERT_TRUE(committed) << committed.error().message();
  EXPECT_EQ(ReadTestFile(Path("out/image.tar")), "new");
}

TEST_P(OutputTest, NoOutputsAttached) {
  auto f = pair_.engine().OpenOutputTar({});
  if (GetParam() == Transport::kInProcess) {
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().code(), Code::kFailedPrecondition);
  }
  auto d = pair_.engine().SendOutputDir(tmp_.path());
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code(), Code::kFailedPrecondition);
  auto s = pair_.engine().OutputStore();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), Code::kFailedPrecondition);
}

TEST_P(OutputTest, TheOtherKindOfOutputIsRefused) {
  auto src = *TempDir::Create("session-output-src-");
  {
    SessionPair pair(GetParam());
    ASSERT_TRUE(pair.client().AttachOutputDir(Path("dest")));
    auto file = pair.engine().OpenOutputTar({});
    Status st = file ? (*file)->Commit() : Unexpected(file.error());
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), Code::kFailedPrecondition);
  }
  for (bool empty : {true, false}) {
    if (!empty) WriteTestFile(src.path() + "/f", "f");
    SessionPair pair(GetParam());
    ASSERT_TRUE(pair.client().AttachOutputFile(Path("out.tar")));
    auto st = pair.engine().SendOutputDir(src.path());
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), Code::kFailedPrecondition) << st.error().message();
  }
  EXPECT_FALSE(Exists(Path("out.tar")));
}

TEST_P(OutputTest, DirIsMergedIntoTheDestination) {
  const std::string src = Path("src"), dest = Path("dest"), outside = Path("outside");
  ASSERT_EQ(testing::RunShell("mkdir -p '" + src + "/bin' '" + src + "/etc' '" + dest + "/etc' '" +
                              outside + "'"),
            0);
  WriteTestFile(src + "/bin/tool", Bytes(200000, 3));
  WriteTestFile(src + "/etc/conf", "conf");
  WriteTestFile(src + "/suid", "s");
  ASSERT_EQ(chmod((src + "/bin/tool").c_str(), 0755), 0);
  ASSERT_EQ(chmod((src + "/suid").c_str(), 04755), 0);
  ASSERT_EQ(link((src + "/etc/conf").c_str(), (src + "/hard").c_str()), 0);
  ASSERT_EQ(symlink("bin/tool", (src + "/tool").c_str()), 0);
  ASSERT_EQ(mkdir((src + "/ro").c_str(), 0755), 0);
  WriteTestFile(src + "/ro/inside", "i");
  ASSERT_EQ(chmod((src + "/ro").c_str(), 0555), 0);
  SetTime(src + "/etc/conf", 1500000000, 5);
  SetTime(src + "/etc", 1500000001, 0);
  // The destination: a file the export keeps, one it replaces, and symlinks pointing out where
  // the export puts a directory and a file.
  WriteTestFile(dest + "/keep", "mine");
  WriteTestFile(dest + "/etc/conf", "old");
  ASSERT_EQ(symlink(outside.c_str(), (dest + "/bin").c_str()), 0);
  WriteTestFile(outside + "/suid", "outside");
  ASSERT_EQ(symlink((outside + "/suid").c_str(), (dest + "/suid").c_str()), 0);
  ASSERT_TRUE(pair_.client().AttachOutputDir(dest));

  auto st = pair_.engine().SendOutputDir(src);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(ReadTestFile(dest + "/keep"), "mine");
  EXPECT_EQ(ReadTestFile(dest + "/etc/conf"), "conf");
  EXPECT_EQ(ReadTestFile(dest + "/bin/tool"), Bytes(200000, 3));
  EXPECT_EQ(ReadTestFile(dest + "/ro/inside"), "i");
  struct stat st_tool, st_bin, st_suid, st_conf, st_hard, st_etc, st_ro;
  ASSERT_EQ(lstat((dest + "/bin").c_str(), &st_bin), 0);
  EXPECT_TRUE(S_ISDIR(st_bin.st_mode)) << "the symlink in the way was replaced";
  ASSERT_EQ(stat((dest + "/bin/tool").c_str(), &st_tool), 0);
  EXPECT_EQ(st_tool.st_mode & 07777, 0755u);
  ASSERT_EQ(lstat((dest + "/suid").c_str(), &st_suid), 0);
  EXPECT_TRUE(S_ISREG(st_suid.st_mode));
  EXPECT_EQ(st_suid.st_mode & 07777, 0755u) << "set-id bits are dropped";
  ASSERT_EQ(stat((dest + "/etc/conf").c_str(), &st_conf), 0);
  ASSERT_EQ(stat((dest + "/hard").c_str(), &st_hard), 0);
  EXPECT_EQ(st_conf.st_ino, st_hard.st_ino);
  EXPECT_EQ(st_conf.st_mtim.tv_sec, 1500000000);
  ASSERT_EQ(stat((dest + "/etc").c_str(), &st_etc), 0);
  EXPECT_EQ(st_etc.st_mtim.tv_sec, 1500000001);
  ASSERT_EQ(stat((dest + "/ro").c_str(), &st_ro), 0);
  EXPECT_EQ(st_ro.st_mode & 07777, 0555u);
  char target[64] = {};
  ASSERT_GT(readlink((dest + "/tool").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "bin/tool");
  // Nothing went through the symlinks that were in the destination.
  EXPECT_EQ(List(outside), std::vector<std::string>{"suid"});
  EXPECT_EQ(ReadTestFile(outside + "/suid"), "outside");
  chmod((src + "/ro").c_str(), 0755);
  chmod((dest + "/ro").c_str(), 0755);
}

// In process (the embedded engine), a blob of the engine's store on the same disk is linked
// into the client's layout rather than copied; over the wire it is copied. Either way the
// layout's blob is what the engine had.
TEST_P(OutputTest, OutputStoreLinksTheEnginesBlobsInProcess) {
  auto engine_store = content::LocalContentStore::Open(PosixFileSystem(), Path("engine"));
  ASSERT_TRUE(engine_store) << engine_store.error().message();
  const std::string blob = Bytes(300000, 7);
  auto info = content::WriteBlob(**engine_store, blob);
  ASSERT_TRUE(info);
  const oci::Descriptor desc{.digest = info->digest, .size = info->size};
  ASSERT_TRUE(pair_.client().AttachOutputLayout(Path("layout")));
  auto store = pair_.engine().OutputStore();
  ASSERT_TRUE(store) << store.error().message();
  ASSERT_TRUE(content::CopyBlob(**engine_store, **store, desc));
  const std::string in_layout = testing::BlobPath(Path("layout"), info->digest);
  EXPECT_EQ(ReadTestFile(in_layout), blob);
  struct stat a {}, b {};
  ASSERT_EQ(stat(in_layout.c_str(), &a), 0);
  ASSERT_EQ(stat((*engine_store)->BlobPath(info->digest).c_str(), &b), 0);
  EXPECT_EQ(a.st_ino == b.st_ino, GetParam() == Transport::kInProcess);
  EXPECT_EQ(List(Path("layout/blobs/sha256")).size(), 1u);

  // A store the client only reads never takes a link.
  auto linked = (*store)->LinkFrom(**engine_store, desc, nullptr);
  ASSERT_TRUE(linked);  // already present
  auto input_store = content::LocalContentStore::Open(PosixFileSystem(), Path("input"));
  ASSERT_TRUE(input_store);
  ASSERT_TRUE(pair_.client().AttachOciStore(
      "in", std::shared_ptr<content::ContentStore>(std::move(*input_store)), {}));
  auto input = pair_.engine().OciStore("in");
  ASSERT_TRUE(input) << input.error().message();
  auto other = content::WriteBlob(**engine_store, "other");
  ASSERT_TRUE(other);
  linked = (*input)->LinkFrom(**engine_store, {.digest = other->digest, .size = other->size},
                              nullptr);
  ASSERT_TRUE(linked);
  EXPECT_FALSE(*linked);
}

TEST_P(OutputTest, OutputStoreVerifiesBlobs) {
  ASSERT_TRUE(pair_.client().AttachOutputLayout(Path("layout")));
  auto store = pair_.engine().OutputStore();
  ASSERT_TRUE(store) << store.error().message();
  const std::string blob = Bytes(3 << 20, 4);
  auto info = content::WriteBlob(**store, blob);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->digest, oci::Digest::Sha256Of(blob));
  EXPECT_EQ(ReadTestFile(testing::BlobPath(Path("layout"), info->digest)), blob);
  auto again = content::WriteBlob(**store, blob);
  EXPECT_TRUE(again) << again.error().message();
  auto back =
      content::ReadBlob(**store, oci::Descriptor{.digest = info->digest, .size = info->size});
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, blob);

  // A blob that is not what the engine says it is never appears.
  const oci::Digest claimed = oci::Digest::Sha256Of("something else");
  auto w = (*store)->Writer("bad");
  ASSERT_TRUE(w) << w.error().message();
  ASSERT_TRUE((*w)->Write("not it"));
  auto c = (*w)->Commit(6, claimed);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code(), Code::kDataLoss);
  EXPECT_EQ(c.error().message().find(tmp_.path()), std::string::npos) << c.error().message();
  EXPECT_FALSE(Exists(testing::BlobPath(Path("layout"), claimed)));
  EXPECT_FALSE(Exists(testing::BlobPath(Path("layout"), oci::Digest::Sha256Of("not it"))));
  // Adding, not removing or listing.
  EXPECT_EQ((*store)->Delete(info->digest).error().code(), Code::kPermissionDenied);
  EXPECT_EQ((*store)->Walk([](const content::BlobInfo&) -> Status { return {}; }).error().code(),
            Code::kPermissionDenied);
  // An abandoned write leaves nothing behind.
  {
    auto abandoned = (*store)->Writer("gone");
    ASSERT_TRUE(abandoned);
    ASSERT_TRUE((*abandoned)->Write("half"));
  }
  EXPECT_FALSE(Exists(testing::BlobPath(Path("layout"), oci::Digest::Sha256Of("half"))));
}

// ---- a hostile engine: raw packets to the client's FileSend ----

class HostileOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = *TempDir::Create("session-hostile-");
    dest_ = tmp_.path() + "/dest";
    outside_ = tmp_.path() + "/outside";
    ASSERT_EQ(mkdir(outside_.c_str(), 0755), 0);
    client_ = std::make_shared<ClientSession>();
    ASSERT_TRUE(client_->AttachOutputDir(dest_));
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    server_ = *SessionServer::Start(client_, UniqueFd(fds[0]));
    channel_ = grpc::CreateInsecureChannelFromFd("localhost", fds[1]);
  }
  void TearDown() override {
    channel_.reset();
    server_->Shutdown();
  }

  static Packet Stat(const std::string& path, uint32_t go_mode, const std::string& linkname = "",
                     int64_t size = 0) {
    Packet p;
    p.set_type(Packet::PACKET_STAT);
    p.mutable_stat()->set_path(path);
    p.mutable_stat()->set_mode(go_mode);
    p.mutable_stat()->set_linkname(linkname);
    p.mutable_stat()->set_size(size);
    return p;
  }
  static constexpr uint32_t kFile = 0644;
  static constexpr uint32_t kDir = (1u << 31) | 0755;
  static constexpr uint32_t kLink = (1u << 27) | 0777;

  // Sends the packets as an engine would (then the end of the walk), serves requests with
  // `data` for every file, and returns the client's verdict: OK, or its error.
  grpc::Status Send(const std::vector<Packet>& stats, const std::string& data = "x") {
    auto stub = moby::filesync::v1::FileSend::NewStub(channel_);
    grpc::ClientContext ctx;
    auto stream = stub->DiffCopy(&ctx);
    auto send = [&](const Packet& p) {
      moby::filesync::v1::BytesMessage m;
      m.ParseFromString(p.SerializeAsString());
      return stream->Write(m);
    };
    for (const Packet& p : stats) send(p);
    Packet end;
    end.set_type(Packet::PACKET_STAT);
    send(end);
    moby::filesync::v1::BytesMessage m;
    while (stream->Read(&m)) {
      Packet p;
      p.ParseFromString(m.SerializeAsString());
      if (p.type() == Packet::PACKET_REQ) {
        Packet d;
        d.set_type(Packet::PACKET_DATA);
        d.set_id(p.id());
        d.set_data(data);
        send(d);
        d.clear_data();
        send(d);
      } else if (p.type() == Packet::PACKET_FIN) {
        Packet fin;
        fin.set_type(Packet::PACKET_FIN);
        send(fin);
        break;
      } else if (p.type() == Packet::PACKET_ERR) {
        last_err_ = p.data();
        break;
      }
    }
    stream->WritesDone();
    while (stream->Read(&m)) {
    }
    return stream->Finish();
  }

  void ExpectRefused(const grpc::Status& s) {
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.error_message().find(tmp_.path()), std::string::npos) << s.error_message();
    EXPECT_TRUE(PosixFileSystem()->ListDir(outside_)->empty());
    EXPECT_FALSE(Exists(tmp_.path() + "/x"));
    EXPECT_FALSE(Exists("/x-hoist-hostile"));
  }

  TempDir tmp_;
  std::string dest_, outside_;
  std::shared_ptr<ClientSession> client_;
  std::unique_ptr<SessionServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string last_err_;
};

TEST_F(HostileOutputTest, AWellFormedStreamLands) {
  auto s = Send({Stat("d", kDir), Stat("d/f", kFile, "", 1), Stat("l", kLink, "d/f")});
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ReadTestFile(dest_ + "/d/f"), "x");
}

TEST_F(HostileOutputTest, DotDotIsRefused) {
  auto s = Send({Stat("../x", kFile)});
  ExpectRefused(s);
  EXPECT_NE(s.error_message().find("invalid path"), std::string::npos) << s.error_message();
  ExpectRefused(Send({Stat("d", kDir), Stat("d/../../x", kFile)}));
}

TEST_F(HostileOutputTest, AbsoluteAndUncleanPathsAreRefused) {
  ExpectRefused(Send({Stat("/x-hoist-hostile", kFile)}));
  ExpectRefused(Send({Stat("a//b", kFile)}));
  ExpectRefused(Send({Stat("./x", kFile)}));
  ExpectRefused(Send({Stat(std::string("a\0b", 3), kFile)}));
  ExpectRefused(Send({Stat("", kFile)}));
}

TEST_F(HostileOutputTest, NothingIsWrittenThroughASymlinkTheStreamMade) {
  auto s = Send({Stat("link", kLink, outside_), Stat("link/x", kFile)});
  ExpectRefused(s);
  // Through a link to the destination's parent, too.
  ExpectRefused(Send({Stat("up", kLink, ".."), Stat("up/x", kFile)}));
}

TEST_F(HostileOutputTest, NoEntryBelowAFile) {
  ExpectRefused(Send({Stat("f", kFile), Stat("f/x", kFile)}));
}

TEST_F(HostileOutputTest, OutOfOrderAndRepeatedEntriesAreRefused) {
  ExpectRefused(Send({Stat("b", kFile), Stat("a", kFile)}));
  ExpectRefused(Send({Stat("a", kFile), Stat("a", kFile)}));
  ExpectRefused(Send({Stat("d", kDir), Stat("e", kDir), Stat("d/x", kFile)}));
}

TEST_F(HostileOutputTest, HardLinksOnlyToEarlierFilesOfTheStream) {
  ExpectRefused(Send({Stat("h", kFile, "../outside/x")}));
  ExpectRefused(Send({Stat("h", kFile, "/etc/passwd")}));
  // To a symlink of the stream (linkat would link the symlink itself, but it is refused).
  ExpectRefused(Send({Stat("a", kLink, "/etc/passwd"), Stat("h", kFile, "a")}));
  // To something already in the destination.
  WriteTestFile(dest_ + "/pre", "pre");
  ExpectRefused(Send({Stat("h", kFile, "pre")}));
}

TEST_F(HostileOutputTest, ASymlinkAlreadyInTheDestinationIsReplacedNotFollowed) {
  ASSERT_EQ(mkdir(dest_.c_str(), 0755), 0);
  ASSERT_EQ(symlink(outside_.c_str(), (dest_ + "/d").c_str()), 0);
  ASSERT_EQ(symlink((outside_ + "/f").c_str(), (dest_ + "/f").c_str()), 0);
  auto s = Send({Stat("d", kDir), Stat("d/x", kFile, "", 1), Stat("f", kFile, "", 1)});
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(PosixFileSystem()->ListDir(outside_)->empty());
  struct stat st;
  ASSERT_EQ(lstat((dest_ + "/d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(lstat((dest_ + "/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(HostileOutputTest, DevicesAreSkipped) {
  constexpr uint32_t kCharDevice = (1u << 26) | (1u << 21) | 0666;
  auto s = Send({Stat("null", kCharDevice), Stat("z", kFile, "", 1)});
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(Exists(dest_ + "/null"));
  EXPECT_EQ(ReadTestFile(dest_ + "/z"), "x");
}

TEST_F(HostileOutputTest, FilesAreAskedForWhileTheWalkArrives) {
  // The client asks for a file as soon as its entry arrives, and takes its data between the
  // walk's entries, as fsutil's sender may send them.
  auto stub = moby::filesync::v1::FileSend::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = stub->DiffCopy(&ctx);
  auto send = [&](const Packet& p) {
    moby::filesync::v1::BytesMessage m;
    m.ParseFromString(p.SerializeAsString());
    return stream->Write(m);
  };
  auto recv = [&](Packet* p) {
    moby::filesync::v1::BytesMessage m;
    if (!stream->Read(&m)) return false;
    return p->ParseFromString(m.SerializeAsString());
  };
  auto data = [&](uint32_t id, const std::string& bytes) {
    Packet d;
    d.set_type(Packet::PACKET_DATA);
    d.set_id(id);
    d.set_data(bytes);
    if (!bytes.empty()) send(d);
    d.clear_data();
    send(d);
  };
  ASSERT_TRUE(send(Stat("a", kFile, "", 5)));
  Packet req;
  ASSERT_TRUE(recv(&req));  // before the walk has ended
  EXPECT_EQ(req.type(), Packet::PACKET_REQ);
  EXPECT_EQ(req.id(), 0u);
  data(0, "first");
  ASSERT_TRUE(send(Stat("b", kDir)));
  ASSERT_TRUE(send(Stat("b/c", kFile, "", 6)));
  ASSERT_TRUE(recv(&req));
  EXPECT_EQ(req.type(), Packet::PACKET_REQ);
  EXPECT_EQ(req.id(), 2u);
  Packet end;
  end.set_type(Packet::PACKET_STAT);
  send(end);
  data(2, "second");
  Packet fin;
  ASSERT_TRUE(recv(&fin));
  EXPECT_EQ(fin.type(), Packet::PACKET_FIN);
  send(fin);
  stream->WritesDone();
  for (Packet p; recv(&p);) {
  }
  auto s = stream->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ReadTestFile(dest_ + "/a"), "first");
  EXPECT_EQ(ReadTestFile(dest_ + "/b/c"), "second");
}

TEST_F(HostileOutputTest, EntriesAfterTheWalkAndDataNotAskedForAreRefused) {
  auto stub = moby::filesync::v1::FileSend::NewStub(channel_);
  auto run = [&](const std::vector<Packet>& packets) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto stream = stub->DiffCopy(&ctx);
    for (const Packet& p : packets) {
      moby::filesync::v1::BytesMessage m;
      m.ParseFromString(p.SerializeAsString());
      stream->Write(m);
    }
    stream->WritesDone();
    moby::filesync::v1::BytesMessage m;
    while (stream->Read(&m)) {
    }
    return stream->Finish();
  };
  Packet end;
  end.set_type(Packet::PACKET_STAT);
  Packet unasked;
  unasked.set_type(Packet::PACKET_DATA);
  unasked.set_id(0);
  unasked.set_data("sneaked");
  // Data for the directory's ID, which is no file to ask for, in the middle of the walk.
  auto s = run({Stat("d", kDir), Stat("f", kFile, "", 1), unasked});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.error_message().find("not asked for"), std::string::npos) << s.error_message();
  // An entry after the walk's end, while a file is still being received.
  s = run({Stat("f", kFile, "", 1), end, Stat("g", kFile)});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.error_message().find("after the end of the walk"), std::string::npos)
      << s.error_message();
  EXPECT_FALSE(Exists(dest_ + "/g"));
}

TEST_F(HostileOutputTest, AFileWhereADirectoryWasExpected) {
  // What an engine sending a tarball to a directory output looks like.
  auto stub = moby::filesync::v1::FileSend::NewStub(channel_);
  grpc::ClientContext ctx;
  auto stream = stub->DiffCopy(&ctx);
  moby::filesync::v1::BytesMessage m;
  m.set_data("tar bytes");
  stream->Write(m);
  stream->WritesDone();
  while (stream->Read(&m)) {
  }
  EXPECT_FALSE(stream->Finish().ok());
  EXPECT_FALSE(Exists(dest_) && !PosixFileSystem()->ListDir(dest_)->empty());
}

// ---- privacy over gRPC ----

class LeakyStore final : public testing::ReadOnlyTestStore {
 public:
  explicit LeakyStore(std::string path) : path_(std::move(path)) {}
  Result<content::BlobInfo> Info(const oci::Digest&) override {
    return MakeError(Code::kPermissionDenied, "stat " + path_ + "/blobs/x: Permission denied");
  }
  Result<std::unique_ptr<content::BlobReader>> ReaderAt(const oci::Digest&) override {
    return MakeError(Code::kInternal, "open " + path_ + "/blobs/x: I/O error");
  }

 private:
  std::string path_;
};

TEST(RemoteSessionPrivacyTest, StoreErrorsArriveScrubbed) {
  const std::string path = "/home/someone/private-marker-5d1e";
  SessionPair pair(Transport::kGrpc);
  ASSERT_TRUE(pair.client().AttachOciStore("leaky", std::make_shared<LeakyStore>(path), {path}));
  auto store = pair.engine().OciStore("leaky");
  ASSERT_TRUE(store) << store.error().message();
  auto info = (*store)->Info(oci::Digest::Sha256Of("x"));
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), Code::kPermissionDenied);
  EXPECT_EQ(info.error().message(), "stat oci:leaky/blobs/x: Permission denied");
  auto reader = (*store)->ReaderAt(oci::Digest::Sha256Of("x"));
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error().message(), "stat oci:leaky/blobs/x: Permission denied");
}

// ---- what the engine asks a client's store ----

// A store of blobs in memory that counts what it is asked; a blob may be stored under a digest
// its bytes do not have.
class CountingStore final : public testing::ReadOnlyTestStore {
 public:
  void Put(const oci::Digest& d, std::string bytes) { blobs_[d] = std::move(bytes); }
  int infos(const oci::Digest& d) const { return Count(infos_, d); }
  int reads(const oci::Digest& d) const { return Count(reads_, d); }

  Result<content::BlobInfo> Info(const oci::Digest& d) override {
    std::lock_guard lock(mu_);
    ++infos_[d];
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return Unexpected(content::BlobNotFound(d));
    return content::BlobInfo{d, static_cast<int64_t>(it->second.size())};
  }
  Result<std::unique_ptr<content::BlobReader>> ReaderAt(const oci::Digest& d) override {
    std::lock_guard lock(mu_);
    ++reads_[d];
    auto it = blobs_.find(d);
    if (it == blobs_.end()) return Unexpected(content::BlobNotFound(d));
    return std::unique_ptr<content::BlobReader>(std::make_unique<Reader>(it->second));
  }

 private:
  class Reader final : public content::BlobReader {
   public:
    explicit Reader(std::string bytes) : bytes_(std::move(bytes)) {}
    int64_t Size() const override { return static_cast<int64_t>(bytes_.size()); }
    Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) override {
      if (offset >= Size()) return size_t{0};
      size_t m = std::min(n, bytes_.size() - static_cast<size_t>(offset));
      std::memcpy(buf, bytes_.data() + offset, m);
      return m;
    }

   private:
    std::string bytes_;
  };
  int Count(const std::map<oci::Digest, int>& m, const oci::Digest& d) const {
    std::lock_guard lock(mu_);
    auto it = m.find(d);
    return it == m.end() ? 0 : it->second;
  }

  mutable std::mutex mu_;
  std::map<oci::Digest, std::string> blobs_;
  std::map<oci::Digest, int> infos_, reads_;
};

oci::Descriptor DescriptorOf(const oci::Digest& d, size_t size) {
  oci::Descriptor desc;
  desc.media_type = "application/octet-stream";
  desc.digest = d;
  desc.size = static_cast<int64_t>(size);
  return desc;
}

TEST(RemoteStoreTest, SmallBlobsAreAskedForOncePerSessionLargeOnesEachTime) {
  auto counting = std::make_shared<CountingStore>();
  const std::string manifest = R"({"schemaVersion":2})";
  const std::string layer(300 << 10, 'l');  // above what a session keeps
  const oci::Digest m = oci::Digest::Sha256Of(manifest);
  const oci::Digest l = oci::Digest::Sha256Of(layer);
  counting->Put(m, manifest);
  counting->Put(l, layer);
  SessionPair pair(Transport::kGrpc);
  ASSERT_TRUE(pair.client().AttachOciStore("c", counting, {}));
  for (int round = 0; round < 2; ++round) {
    // Each resolution opens the store again, as a build's frontend and source op do.
    auto store = pair.engine().OciStore("c");
    ASSERT_TRUE(store) << store.error().message();
    auto info = (*store)->Info(m);
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->size, static_cast<int64_t>(manifest.size()));
    auto got = content::ReadBlob(**store, DescriptorOf(m, manifest.size()));
    ASSERT_TRUE(got) << got.error().message();
    EXPECT_EQ(*got, manifest);
    auto big = content::ReadBlob(**store, DescriptorOf(l, layer.size()), 1 << 20);
    ASSERT_TRUE(big) << big.error().message();
    EXPECT_EQ(*big, layer);
  }
  EXPECT_EQ(counting->infos(m), 1);
  EXPECT_EQ(counting->reads(m), 1);
  // The large blob's first open is one Read it then streams on from (with Info for its size).
  EXPECT_EQ(counting->infos(l), 1);
  EXPECT_EQ(counting->reads(l), 2);
}

TEST(RemoteStoreTest, ABlobOpenedWithoutInfoIsOneCall) {
  auto counting = std::make_shared<CountingStore>();
  const std::string config = R"({"architecture":"amd64"})";
  const oci::Digest c = oci::Digest::Sha256Of(config);
  counting->Put(c, config);
  const oci::Digest missing = oci::Digest::Sha256Of("not there");
  SessionPair pair(Transport::kGrpc);
  ASSERT_TRUE(pair.client().AttachOciStore("c", counting, {}));
  auto store = pair.engine().OciStore("c");
  ASSERT_TRUE(store) << store.error().message();
  auto got = content::ReadBlob(**store, DescriptorOf(c, config.size()));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(*got, config);
  EXPECT_EQ(counting->infos(c), 0);
  EXPECT_EQ(counting->reads(c), 1);
  auto none = (*store)->ReaderAt(missing);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Code::kNotFound);
  EXPECT_EQ(none.error().message(), "content " + missing.str() + ": not found");
  EXPECT_EQ(counting->infos(missing) + counting->reads(missing), 1);
}

TEST(RemoteStoreTest, ASessionKeepsFourMebibytesForAllItsStores) {
  // 20 blobs of 256 KiB over two stores: the first 16 read are kept, the last 4 are asked for
  // again.
  auto a = std::make_shared<CountingStore>();
  auto b = std::make_shared<CountingStore>();
  std::vector<oci::Digest> da, db;
  for (int i = 0; i < 10; ++i) {
    std::string bytes(256 << 10, static_cast<char>('a' + i));
    da.push_back(oci::Digest::Sha256Of(bytes));
    a->Put(da.back(), bytes);
    bytes[0] = 'B';
    db.push_back(oci::Digest::Sha256Of(bytes));
    b->Put(db.back(), bytes);
  }
  SessionPair pair(Transport::kGrpc);
  ASSERT_TRUE(pair.client().AttachOciStore("a", a, {}));
  ASSERT_TRUE(pair.client().AttachOciStore("b", b, {}));
  for (int round = 0; round < 2; ++round) {
    for (auto [id, digests] : {std::pair{"a", &da}, std::pair{"b", &db}}) {
      auto store = pair.engine().OciStore(id);
      ASSERT_TRUE(store) << store.error().message();
      for (const oci::Digest& d : *digests) {
        auto got = content::ReadBlob(**store, DescriptorOf(d, 256 << 10));
        ASSERT_TRUE(got) << got.error().message();
      }
    }
  }
  int reads = 0;
  for (const oci::Digest& d : da) reads += a->reads(d);
  EXPECT_EQ(reads, 10);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b->reads(db[i]), i < 6 ? 1 : 2) << i;
}

// A client's Content service that serves whatever bytes it holds under a digest, unverified
// (as a BuildKit client serves its layout's files), and counts the reads.
class UnverifiedContentService final : public containerd::services::content::v1::Content::Service {
 public:
  UnverifiedContentService(std::string digest, std::string bytes)
      : digest_(std::move(digest)), bytes_(std::move(bytes)) {}
  int reads() const { return reads_.load(); }

  grpc::Status Info(grpc::ServerContext*, const containerd::services::content::v1::InfoRequest* req,
                    containerd::services::content::v1::InfoResponse* resp) override {
    if (req->digest() != digest_) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not found");
    resp->mutable_info()->set_digest(digest_);
    resp->mutable_info()->set_size(static_cast<int64_t>(bytes_.size()));
    return grpc::Status::OK;
  }
  grpc::Status Read(grpc::ServerContext*,
                    const containerd::services::content::v1::ReadContentRequest* req,
                    grpc::ServerWriter<containerd::services::content::v1::ReadContentResponse>* w)
      override {
    if (req->digest() != digest_) return grpc::Status(grpc::StatusCode::NOT_FOUND, "not found");
    ++reads_;
    containerd::services::content::v1::ReadContentResponse r;
    r.set_offset(req->offset());
    r.set_data(bytes_.substr(static_cast<size_t>(req->offset())));
    w->Write(r);
    return grpc::Status::OK;
  }

 private:
  std::string digest_, bytes_;
  std::atomic<int> reads_{0};
};

TEST(RemoteStoreTest, BytesThatDoNotMatchTheirDigestAreNeverKept) {
  const oci::Digest d = oci::Digest::Sha256Of("the real manifest");
  UnverifiedContentService service(d.str(), "not the manifest!");  // same size, other bytes
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ASSERT_EQ(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK), 0);
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  grpc::AddInsecureChannelFromFd(server.get(), fds[0]);
  RemoteSessionInfo info{.id = "unverified",
                         .methods = {"/containerd.services.content.v1.Content/Info",
                                     "/containerd.services.content.v1.Content/Read"}};
  auto session = RemoteSession::Connect(info, UniqueFd(fds[1]));
  ASSERT_TRUE(session) << session.error().message();
  int asked = 0;
  for (int round = 0; round < 2; ++round) {
    auto store = (*session)->OciStore("c");
    ASSERT_TRUE(store) << store.error().message();
    auto got = content::ReadBlob(**store, DescriptorOf(d, 17));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().code(), Code::kDataLoss);
    EXPECT_NE(got.error().message().find("digest mismatch"), std::string::npos)
        << got.error().message();
    // The bytes were refused, and the next read asks the client again.
    EXPECT_EQ(service.reads(), asked + 1);
    asked = service.reads();
  }
  session->reset();
  server->Shutdown();
}

TEST(RemoteStoreTest, EachSessionAsksItsOwnClient) {
  const std::string manifest = R"({"schemaVersion":2,"n":1})";
  const oci::Digest m = oci::Digest::Sha256Of(manifest);
  auto a = std::make_shared<CountingStore>();
  a->Put(m, manifest);
  auto b = std::make_shared<CountingStore>();  // holds nothing
  SessionPair pa(Transport::kGrpc);
  SessionPair pb(Transport::kGrpc);
  ASSERT_TRUE(pa.client().AttachOciStore("c", a, {}));
  ASSERT_TRUE(pb.client().AttachOciStore("c", b, {}));
  auto sa = *pa.engine().OciStore("c");
  ASSERT_TRUE(content::ReadBlob(*sa, DescriptorOf(m, manifest.size())));
  // What one session's client sent is never an answer for another's.
  auto sb = *pb.engine().OciStore("c");
  auto got = content::ReadBlob(*sb, DescriptorOf(m, manifest.size()));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code(), Code::kNotFound);
  EXPECT_EQ(b->infos(m) + b->reads(m), 1);
}

TEST(RemoteSessionPrivacyTest, OutputErrorsDoNotNameTheDestination) {
  auto tmp = *TempDir::Create("session-private-");
  const std::string marker = tmp.path() + "/private-marker-77aa";
  WriteTestFile(marker, "a file where the output directory should be");
  SessionPair pair(Transport::kGrpc);
  ASSERT_TRUE(pair.client().AttachOutputDir(marker + "/dest"));
  auto src = *TempDir::Create("session-private-src-");
  WriteTestFile(src.path() + "/f", "f");
  auto st = pair.engine().SendOutputDir(src.path());
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message().find("private-marker"), std::string::npos) << st.error().message();

  SessionPair pair2(Transport::kGrpc);
  ASSERT_TRUE(pair2.client().AttachOutputFile(marker + "/x/out.tar"));
  auto file = pair2.engine().OpenOutputTar({});
  Status written = file ? (*file)->Commit() : Unexpected(file.error());
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().message().find("private-marker"), std::string::npos)
      << written.error().message();
}

}  // namespace
}  // namespace hoist::session
