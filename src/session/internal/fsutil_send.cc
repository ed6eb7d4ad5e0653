#include "session/internal/fsutil_send.h"

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "api/fsutil/wire.pb.h"
#include "session/internal/fsutil_wire.h"

namespace hoist::session::internal {
namespace {

using fsutil::types::Packet;

// DATA packets carry at most this much (fsutil sends 32 KiB; any size is understood).
constexpr size_t kDataChunk = 128 << 10;
// How long a failed sender waits for the receiver to hang up before cancelling the call.
constexpr auto kHangUpGrace = std::chrono::seconds(10);
constexpr auto kCancelPoll = std::chrono::milliseconds(200);
constexpr std::string_view kBrokenMessage = "the file transfer's stream ended unexpectedly";

Error Broken() { return BrokenStreamError(); }

class Sender {
 public:
  Sender(PacketStream& stream, ClientDir& dir, CancelContext* cancel)
      : stream_(stream), dir_(dir), cancel_(cancel) {}

  Status Run(const WalkOptions& options) {
    std::thread reader([this] { ReadLoop(); });
    Status st = Serve(options);
    if (!st) {
      bool tell;
      {
        std::lock_guard lock(mu_);
        tell = !peer_error_ && !ended_;
      }
      if (tell) {
        Packet err;
        err.set_type(Packet::PACKET_ERR);
        err.set_data(st.error().message());
        stream_.Send(err);
      }
      // The receiver hangs up on an error; one that does not is cut off.
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, kHangUpGrace, [this] { return ended_; })) {
        lock.unlock();
        stream_.Cancel();
      }
    }
    reader.join();
    return st;
  }

 private:
  Status Serve(const WalkOptions& options) {
    uint32_t id = 0;
    HOIST_TRY(dir_.Walk(
        options,
        [&](const FileEntry& e) -> Status {
          HOIST_TRY(PeerState());
          Packet p;
          p.set_type(Packet::PACKET_STAT);
          StatFromEntry(e, p.mutable_stat());
          if (S_ISREG(e.mode)) {
            std::lock_guard lock(mu_);
            files_[id] = e.path;
          }
          ++id;
          // The end packet below follows at once.
          if (!stream_.Send(p, /*more=*/true)) return Unexpected(Broken());
          // Files the receiver asked for while it takes the walk go out between its entries.
          while (auto req = NextRequest()) {
            HOIST_TRY(SendFile(req->first, req->second, /*walking=*/true));
          }
          return OkStatus();
        },
        cancel_));
    Packet end;
    end.set_type(Packet::PACKET_STAT);
    if (!stream_.Send(end)) return Unexpected(Broken());

    for (;;) {
      std::optional<std::pair<uint32_t, std::string>> req;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, kCancelPoll,
                     [this] { return !queue_.empty() || fin_ || peer_error_ || ended_; });
        if (!queue_.empty()) {
          req = std::move(queue_.front());
          queue_.pop_front();
        } else if (fin_) {
          break;
        } else if (peer_error_) {
          return Unexpected(*peer_error_);
        } else if (ended_) {
          return Unexpected(Broken());
        }
      }
      if (cancel_ != nullptr) HOIST_TRY(cancel_->Check());
      if (req) HOIST_TRY(SendFile(req->first, req->second, /*walking=*/false));
    }
    Packet fin;
    fin.set_type(Packet::PACKET_FIN);
    if (!stream_.Send(fin)) return Unexpected(Broken());
    return OkStatus();
  }

  // The oldest request not yet served, if any.
  std::optional<std::pair<uint32_t, std::string>> NextRequest() {
    std::lock_guard lock(mu_);
    if (queue_.empty()) return std::nullopt;
    auto req = std::move(queue_.front());
    queue_.pop_front();
    return req;
  }

  // `walking`: more of the walk follows this file.
  Status SendFile(uint32_t id, const std::string& path, bool walking) {
    Packet p;
    p.set_type(Packet::PACKET_DATA);
    p.set_id(id);
    Status read = dir_.ReadFile(path, [&](std::string_view chunk) -> Status {
      while (!chunk.empty()) {
        HOIST_TRY(PeerState());
        size_t n = std::min(chunk.size(), kDataChunk);
        p.set_data(chunk.data(), n);
        // The file's end packet, at least, follows.
        if (!stream_.Send(p, /*more=*/true)) return Unexpected(Broken());
        chunk.remove_prefix(n);
      }
      return OkStatus();
    });
    if (!read && read.error().code() != Code::kNotFound) return read;
    p.clear_data();
    // The walk's next entry or the next file asked for follows at once; with neither, the
    // receiver waits for this one.
    bool more = walking;
    if (!more) {
      std::lock_guard lock(mu_);
      more = !queue_.empty();
    }
    if (!stream_.Send(p, more)) return Unexpected(Broken());
    return OkStatus();
  }

  // The receiver's failure, if it reported one.
  Status PeerState() {
    std::lock_guard lock(mu_);
    if (peer_error_) return Unexpected(*peer_error_);
    return OkStatus();
  }

  void ReadLoop() {
    Packet p;
    while (stream_.Recv(&p)) {
      std::lock_guard lock(mu_);
      switch (p.type()) {
        case Packet::PACKET_REQ: {
          auto it = files_.find(p.id());
          if (it == files_.end()) {
            peer_error_ = Error(Code::kInvalidArgument,
                                "the receiver asked for file ID " + std::to_string(p.id()) +
                                    ", which is not a regular file of this transfer or was "
                                    "asked for before");
            break;
          }
          queue_.emplace_back(it->first, std::move(it->second));
          files_.erase(it);
          cv_.notify_all();
          continue;
        }
        case Packet::PACKET_FIN:
          fin_ = true;
          break;
        case Packet::PACKET_ERR:
          peer_error_ = Error(Code::kUnknown, "error from receiver: " + p.data());
          break;
        default:
          continue;  // fsutil ignores the rest as well
      }
      cv_.notify_all();
      if (fin_ || peer_error_) break;
    }
    std::lock_guard lock(mu_);
    ended_ = true;
    cv_.notify_all();
  }

  PacketStream& stream_;
  ClientDir& dir_;
  CancelContext* cancel_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, std::string> files_;  // regular files not yet asked for, by ID
  std::deque<std::pair<uint32_t, std::string>> queue_;
  bool fin_ = false;
  bool ended_ = false;  // the reader is done
  std::optional<Error> peer_error_;
};

}  // namespace

Error BrokenStreamError() { return Error(Code::kUnavailable, std::string(kBrokenMessage)); }

bool IsBrokenStream(const Error& e) {
  return e.code() == Code::kUnavailable && e.message() == kBrokenMessage;
}

Status SendTree(PacketStream& stream, ClientDir& dir, const WalkOptions& options,
                CancelContext* cancel) {
  Sender s(stream, dir, cancel);
  return s.Run(options);
}

}  // namespace hoist::session::internal
