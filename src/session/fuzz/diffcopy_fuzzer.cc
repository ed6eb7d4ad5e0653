// libFuzzer target for fsutil's diffcopy packets as both ends of a session receive them from a
// peer they must not trust. The input's first byte picks the side; the rest is a sequence of
// packets, each a 2-byte little-endian length and that many bytes of a fsutil.types.Packet
// (messages that do not parse are skipped).
//  - client: the packets are what an engine sends to a local output; ReceiveTree writes them
//    through a ConfinedDirWriter into the root of the fuzz sandbox (base/fuzz/fuzz_sandbox.h).
//  - engine: the STAT packets, up to the first empty one, are a client's walk of its context,
//    decoded and checked as the engine's file-sync transfer does (EntryFromStat, WalkOrder); the
//    DATA packets that follow are the files' contents, in the order they are asked for; the
//    local syncer mirrors that into the sandbox root.
// With bit 2 of the first byte set, the rest is instead one batch of hoist's batched services
// (hoist.filesync.v1.PacketBatch's bytes), decoded as they decode it (NextInBatch) up to its
// end or the first bytes that are not a packet.
// Either way nothing outside the root may change, and nothing may crash or leak.
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "api/fsutil/wire.pb.h"
#include "base/fuzz/fuzz_sandbox.h"
#include "session/internal/dir_receiver.h"
#include "session/internal/fsutil_wire.h"
#include "session/internal/packet_stream.h"
#include "source/local_source.h"

namespace {

using fsutil::types::Packet;
namespace si = hoist::session::internal;

std::deque<Packet> ReadBatch(std::string_view in) {
  std::deque<Packet> out;
  size_t at = 0;
  bool bad = false;
  for (Packet p; si::NextInBatch(in, &at, &p, &bad);) out.push_back(std::move(p));
  return out;
}

std::deque<Packet> ReadPackets(std::string_view in) {
  std::deque<Packet> out;
  while (in.size() >= 2) {
    size_t n = static_cast<uint8_t>(in[0]) | (static_cast<size_t>(static_cast<uint8_t>(in[1])) << 8);
    in.remove_prefix(2);
    n = std::min(n, in.size());
    Packet p;
    if (p.ParseFromArray(in.data(), static_cast<int>(n))) out.push_back(std::move(p));
    in.remove_prefix(n);
  }
  return out;
}

// The engine's side of an export, replayed.
class ScriptedStream final : public si::PacketStream {
 public:
  explicit ScriptedStream(std::deque<Packet> packets) : packets_(std::move(packets)) {}
  bool Recv(Packet* p) override {
    if (packets_.empty()) return false;
    *p = std::move(packets_.front());
    packets_.pop_front();
    return true;
  }
  bool Send(const Packet&, bool) override { return true; }
  void Cancel() override {}

 private:
  std::deque<Packet> packets_;
};

// A client's context, replayed.
class ScriptedContext final : public hoist::source::ContextReader {
 public:
  explicit ScriptedContext(std::deque<Packet> packets) : packets_(std::move(packets)) {}

  hoist::Status Walk(const hoist::source::ContextFilter&,
                     const std::function<hoist::Status(const hoist::source::ContextEntry&)>& fn) override {
    si::WalkOrder order;
    while (!packets_.empty()) {
      Packet p = std::move(packets_.front());
      packets_.pop_front();
      if (p.type() != Packet::PACKET_STAT) return hoist::MakeError(hoist::Code::kInvalidArgument, "unexpected packet");
      if (!p.has_stat()) break;
      hoist::session::FileEntry e = si::EntryFromStat(p.stat());
      HOIST_TRY(order.Check(e, "local dir"));
      HOIST_TRY(fn(hoist::source::ContextEntryOf(e)));
    }
    return hoist::OkStatus();
  }

  hoist::Status ReadFile(std::string_view,
                         const std::function<hoist::Status(std::string_view)>& sink) override {
    while (!packets_.empty()) {
      Packet p = std::move(packets_.front());
      packets_.pop_front();
      if (p.type() != Packet::PACKET_DATA) continue;
      if (p.data().empty()) return hoist::OkStatus();
      HOIST_TRY(sink(p.data()));
    }
    return hoist::OkStatus();
  }

 private:
  std::deque<Packet> packets_;
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  hoist::fuzz::InitSandbox("diffcopy");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::deque<Packet> packets = (data[0] & 4) ? ReadBatch(rest) : ReadPackets(rest);
  if (data[0] % 2 == 0) {
    auto writer = si::ConfinedDirWriter::Open(hoist::fuzz::SandboxRoot());
    if (!writer) std::abort();
    ScriptedStream stream(std::move(packets));
    (void)si::ReceiveTree(stream, **writer);
  } else {
    ScriptedContext context(std::move(packets));
    hoist::source::SyncOptions options;
    if (data[0] & 2) options.filter.exclude_patterns = {"a*", "!ab"};
    (void)hoist::source::LocalSync(context, hoist::fuzz::SandboxRoot(), options);
  }
  hoist::fuzz::CheckUntouched();
  hoist::fuzz::FreshRoot();
  return 0;
}
