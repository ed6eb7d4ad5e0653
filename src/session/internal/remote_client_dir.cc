// The engine's view of a client directory over FileSync.DiffCopy (see remote_session.h).
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "api/fsutil/wire.pb.h"
#include "api/session/batch.grpc.pb.h"
#include "api/session/filesync.grpc.pb.h"
#include "session/internal/fsutil_wire.h"
#include "session/internal/grpc_glue.h"
#include "session/internal/packet_stream.h"
#include "session/internal/remote_connection.h"

namespace hoist::session::internal {
namespace {

namespace fs = moby::filesync::v1;
namespace hfs = ::hoist::filesync::v1;
using fsutil::types::Packet;

// A file OpenFile read whole.
class BufferFile final : public ReadableFile {
 public:
  explicit BufferFile(std::string data) : data_(std::move(data)) {}
  Result<size_t> ReadAt(uint64_t offset, void* buf, size_t n) override {
    if (offset >= data_.size()) return size_t{0};
    n = std::min<size_t>(n, data_.size() - offset);
    std::memcpy(buf, data_.data() + offset, n);
    return n;
  }
  Result<uint64_t> Size() override { return data_.size(); }

 private:
  std::string data_;
};

// One DiffCopy call from the engine's side: BuildKit's (a Packet per message) or hoist's
// batched one, whichever the client serves. One thread at a time uses it (Transfer's caller
// holds the directory's lock), so what waits to be sent goes out before a read waits.
class DiffCopyCall {
 public:
  virtual ~DiffCopyCall() = default;
  virtual bool Read(Packet* p) = 0;
  // `more`: PacketStream::Send's.
  virtual bool Write(const Packet& p, bool more = false) = 0;
  virtual void WritesDone() = 0;
  virtual grpc::Status Finish() = 0;
};

class PlainCall final : public DiffCopyCall {
 public:
  PlainCall(const RemoteConnection& conn, grpc::ClientContext* context)
      : stub_(fs::FileSync::NewStub(conn.channel)), stream_(stub_->DiffCopy(context)) {}
  bool Read(Packet* p) override { return stream_->Read(p); }
  bool Write(const Packet& p, bool) override { return stream_->Write(p); }
  void WritesDone() override { stream_->WritesDone(); }
  grpc::Status Finish() override { return stream_->Finish(); }

 private:
  std::unique_ptr<fs::FileSync::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<Packet, Packet>> stream_;
};

class BatchedCall final : public DiffCopyCall {
 public:
  BatchedCall(const RemoteConnection& conn, grpc::ClientContext* context)
      : stub_(hfs::BatchedFileSync::NewStub(conn.channel)),
        stream_(stub_->DiffCopy(context)),
        packets_(stream_.get(), context, /*one_thread=*/true) {}
  bool Read(Packet* p) override { return packets_.Recv(p); }
  bool Write(const Packet& p, bool more) override { return packets_.Send(p, more); }
  void WritesDone() override {
    packets_.Flush();
    stream_->WritesDone();
  }
  grpc::Status Finish() override { return stream_->Finish(); }

 private:
  using Stream = grpc::ClientReaderWriter<hfs::PacketBatch, hfs::PacketBatch>;
  std::unique_ptr<hfs::BatchedFileSync::Stub> stub_;
  std::unique_ptr<Stream> stream_;
  BatchedPacketStream<Stream, grpc::ClientContext, hfs::PacketBatch> packets_;
};

// One DiffCopy call: the walk it received and the file requests made on it.
class Transfer {
 public:
  // Starts a DiffCopy of the directory `name` with the options as metadata. Patterns that
  // metadata cannot carry are widened or dropped so that the client sends at least what
  // `options` select (see WidenPattern): the walk may then report more than they select.
  static Result<std::unique_ptr<Transfer>> Start(const RemoteConnection& conn,
                                                 const std::string& name,
                                                 const WalkOptions& options) {
    if (!MetadataSafe(name)) {
      return MakeError(Code::kInvalidArgument, "local dir \"" + name +
                                                   "\": only names in printable ASCII can be sent "
                                                   "to a client");
    }
    std::unique_ptr<Transfer> t(new Transfer(name));
    t->context_.AddMetadata(kDirNameKey, name);
    for (const std::string& p : options.include_patterns) {
      // An exception among include patterns narrows them: one that cannot be sent is left out.
      if (MetadataSafe(p)) {
        t->context_.AddMetadata(kIncludePatternsKey, p);
      } else if (p.empty() || p[0] != '!') {
        t->context_.AddMetadata(kIncludePatternsKey, WidenPattern(p));
      }
    }
    for (const std::string& p : options.exclude_patterns) {
      // An exclude pattern left out excludes nothing more; a widened exception re-includes
      // more.
      if (MetadataSafe(p)) {
        t->context_.AddMetadata(kExcludePatternsKey, p);
      } else if (!p.empty() && p[0] == '!') {
        t->context_.AddMetadata(kExcludePatternsKey, WidenPattern(p));
      }
    }
    for (const std::string& p : options.follow_paths) {
      t->context_.AddMetadata(kFollowPathsKey, MetadataSafe(p) ? p : WidenPattern(p));
    }
    if (conn.Supports(kBatchedDiffCopy)) {
      t->stream_ = std::make_unique<BatchedCall>(conn, &t->context_);
    } else {
      t->stream_ = std::make_unique<PlainCall>(conn, &t->context_);
    }
    return t;
  }

  ~Transfer() {
    if (!finished_) Abort();
  }

  // Receives the walk up to its end, checking it, and calls fn for each entry.
  Status ReceiveWalk(const std::function<Status(const FileEntry&)>& fn, CancelContext* cancel) {
    WalkOrder order;
    uint32_t id = 0;
    for (Packet p;;) {
      if (cancel != nullptr) {
        if (auto st = cancel->Check(); !st) {
          Abort();
          return st;
        }
      }
      HOIST_TRY(Next(&p));
      if (p.type() != Packet::PACKET_STAT) {
        return Fail(Error(Code::kInvalidArgument,
                          "local dir " + name_ + ": the client sent an unexpected packet"));
      }
      if (!p.has_stat()) break;
      FileEntry e = EntryFromStat(p.stat());
      if (auto st = order.Check(e, "local dir " + name_); !st) return Fail(st.error());
      if (S_ISREG(e.mode) && !e.hardlink_to.empty()) {
        e.size = entries_.at(e.hardlink_to).size;
      }
      entries_.emplace(e.path, Entry{id++, e.mode, e.size, false});
      if (auto st = fn(e); !st) {
        Abort();
        return st;
      }
    }
    walked_ = true;
    return OkStatus();
  }

  enum class Lookup { kFound, kRefused, kUnknown };
  // Where `path` stands in the walk: a regular file not yet asked for (`*id`), refused (a
  // symlink or non-directory on the way, or not a regular file: `*refusal`), or not in it.
  Lookup Find(const std::string& path, uint32_t* id, std::optional<Error>* refusal) const {
    auto in_the_way = [&] {
      return Error(Code::kPermissionDenied,
                   "local dir " + name_ + ": open " + path +
                       ": a symlink or non-directory is in the way; symlinks are not followed");
    };
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      auto it = entries_.find(path.substr(0, slash));
      if (it == entries_.end()) return Lookup::kUnknown;
      if (!S_ISDIR(it->second.mode)) {
        *refusal = in_the_way();
        return Lookup::kRefused;
      }
    }
    auto it = entries_.find(path);
    if (it == entries_.end()) return Lookup::kUnknown;
    if (S_ISLNK(it->second.mode)) {
      *refusal = in_the_way();
      return Lookup::kRefused;
    }
    if (!S_ISREG(it->second.mode)) {
      *refusal = Error(Code::kInvalidArgument,
                       "local dir " + name_ + ": " + path + " is not a regular file");
      return Lookup::kRefused;
    }
    // fsutil serves each file once per transfer.
    if (it->second.requested) return Lookup::kUnknown;
    *id = it->second.id;
    return Lookup::kFound;
  }

  // Asks for the file `path` (found by Find) and streams it to sink. Files announced and not
  // read yet are dropped from the pipeline first.
  Status Read(const std::string& path, uint32_t id,
              const std::function<Status(std::string_view chunk)>& sink) {
    HOIST_TRY(DrainInFlight(in_flight_.size()));
    for (const Announced& a : announced_) entries_.at(a.path).requested = false;
    announced_.clear();
    pipelined_.clear();
    entries_.at(path).requested = true;
    Packet req;
    req.set_type(Packet::PACKET_REQ);
    req.set_id(id);
    if (!stream_->Write(req)) return Fail(std::nullopt);
    for (Packet p;;) {
      HOIST_TRY(Next(&p));
      if (p.type() != Packet::PACKET_DATA || p.id() != id) {
        return Fail(Error(Code::kInvalidArgument, "local dir " + name_ +
                                                      ": the client sent an unexpected packet "
                                                      "while sending " +
                                                      path));
      }
      if (p.data().empty()) return OkStatus();
      if (auto st = sink(p.data()); !st) {
        // The rest of the file is still coming: this transfer cannot go on.
        Abort();
        return st;
      }
    }
  }

  // Files the caller will read next, in order: they are asked for ahead of their reads, up to
  // kMaxInFlight files and kInFlightBytes at a time. Paths that are not regular files of the
  // walk still to be asked for are left out (their ReadFile goes the usual way).
  void Announce(const std::vector<std::string>& paths) {
    for (const std::string& path : paths) {
      uint32_t id = 0;
      std::optional<Error> refusal;
      if (Find(path, &id, &refusal) != Lookup::kFound) continue;
      Entry& e = entries_.at(path);
      e.requested = true;  // by the pipeline now
      pipelined_.insert(path);
      announced_.push_back({.path = path, .id = id, .size = static_cast<uint64_t>(e.size)});
    }
  }

  bool IsAnnounced(const std::string& path) const { return pipelined_.contains(path); }

  // Reads an announced file (IsAnnounced). Files announced before it and not read are skipped
  // (those already asked for are received and dropped).
  Status ReadAnnounced(const std::string& path,
                       const std::function<Status(std::string_view chunk)>& sink) {
    pipelined_.erase(path);
    auto in_flight = std::find_if(in_flight_.begin(), in_flight_.end(),
                                  [&](const InFlight& f) { return f.path == path; });
    if (in_flight == in_flight_.end()) {
      auto queued = std::find_if(announced_.begin(), announced_.end(),
                                 [&](const Announced& a) { return a.path == path; });
      if (queued == announced_.end()) {
        return MakeError(Code::kInternal, "local dir " + name_ + ": " + path + " is not announced");
      }
      // Skipped files that were never asked for can still be read on their own.
      for (auto it = announced_.begin(); it != queued; ++it) {
        entries_.at(it->path).requested = false;
        pipelined_.erase(it->path);
      }
      announced_.erase(announced_.begin(), queued);
      HOIST_TRY(DrainInFlight(in_flight_.size()));
    } else {
      HOIST_TRY(DrainInFlight(static_cast<size_t>(in_flight - in_flight_.begin())));
    }
    HOIST_TRY(TopUp());
    InFlight& target = in_flight_.front();
    if (!target.buffered.empty()) {
      std::string chunk = std::move(target.buffered);
      if (auto st = sink(chunk); !st) {
        Abort();
        return st;
      }
    }
    while (!target.done) {
      Packet p;
      HOIST_ASSIGN_OR_RETURN(InFlight * f, NextData(&p));
      if (f != &target) continue;
      if (p.data().empty()) break;
      if (auto st = sink(p.data()); !st) {
        Abort();
        return st;
      }
    }
    in_flight_bytes_ -= target.size;
    in_flight_.pop_front();
    return TopUp();
  }

  // Ends the transfer as fsutil's receiver does: FIN, the sender's FIN, the call's status.
  Status Close() {
    if (finished_) return OkStatus();
    Packet fin;
    fin.set_type(Packet::PACKET_FIN);
    if (stream_->Write(fin)) {
      for (Packet p; stream_->Read(&p);) {
        if (p.type() == Packet::PACKET_FIN) break;
      }
    }
    stream_->WritesDone();
    for (Packet p; stream_->Read(&p);) {
    }
    finished_ = true;
    grpc::Status s = stream_->Finish();
    if (!s.ok()) return Unexpected(FromGrpcStatus(s));
    return OkStatus();
  }

  bool usable() const { return walked_ && !finished_; }

 private:
  explicit Transfer(std::string name) : name_(std::move(name)) {}

  struct Entry {
    uint32_t id;
    uint32_t mode;
    int64_t size;
    bool requested;
  };
  struct Announced {
    std::string path;
    uint32_t id;
    uint64_t size;
  };
  // A file asked for and not yet read: the data that came while another file was read waits
  // in `buffered` (at most its size from the walk).
  struct InFlight {
    std::string path;
    uint32_t id;
    uint64_t size;
    std::string buffered;
    bool done = false;
  };
  static constexpr size_t kMaxInFlight = 128;
  static constexpr uint64_t kInFlightBytes = 8u << 20;

  // Asks for announced files while the window has room (always for one).
  Status TopUp() {
    while (HasRoom()) {
      Announced a = std::move(announced_.front());
      announced_.pop_front();
      in_flight_bytes_ += a.size;
      in_flight_.push_back({.path = std::move(a.path), .id = a.id, .size = a.size});
      Packet req;
      req.set_type(Packet::PACKET_REQ);
      req.set_id(a.id);
      // Requests wait to go out together until this side waits for the client (DiffCopyCall).
      if (!stream_->Write(req, /*more=*/true)) return Fail(std::nullopt);
    }
    return OkStatus();
  }

  // Whether TopUp asks for the next announced file.
  bool HasRoom() const {
    return !announced_.empty() && in_flight_.size() < kMaxInFlight &&
           (in_flight_.empty() || in_flight_bytes_ + announced_.front().size <= kInFlightBytes);
  }

  // Receives the first `n` files in flight and drops their data.
  Status DrainInFlight(size_t n) {
    for (; n > 0; --n) {
      InFlight& f = in_flight_.front();
      while (!f.done) {
        Packet p;
        HOIST_TRY(NextData(&p));
      }
      pipelined_.erase(f.path);
      in_flight_bytes_ -= f.size;
      in_flight_.pop_front();
    }
    return OkStatus();
  }

  // The next DATA packet, for a file in flight (the client may interleave files): marks the
  // file done at its empty packet; keeps the data of a file other than the first one. A packet
  // of another kind, for a file not asked for, or past a file's size is the client's error.
  Result<InFlight*> NextData(Packet* p) {
    HOIST_TRY(Next(p));
    auto f = std::find_if(in_flight_.begin(), in_flight_.end(),
                          [&](const InFlight& x) { return x.id == p->id() && !x.done; });
    if (p->type() != Packet::PACKET_DATA || f == in_flight_.end()) {
      return Fail(Error(Code::kInvalidArgument,
                        "local dir " + name_ + ": the client sent an unexpected packet"));
    }
    if (p->data().empty()) {
      f->done = true;
    } else if (f != in_flight_.begin()) {
      if (f->buffered.size() + p->data().size() > f->size) {
        return Fail(Error(Code::kInvalidArgument, "local dir " + name_ + ": the client sent " +
                                                      f->path + " larger than its walk said"));
      }
      f->buffered += p->data();
    }
    return &*f;
  }

  void Abort() {
    if (finished_) return;
    context_.TryCancel();
    for (Packet p; stream_->Read(&p);) {
    }
    finished_ = true;
    (void)stream_->Finish();
  }

  Status Next(Packet* p) {
    if (!stream_->Read(p)) {
      // A client refuses a directory it does not have before it sends anything.
      if (!received_) {
        auto failed = Fail(std::nullopt);
        if (failed.value().code() == Code::kNotFound) {
          return MakeError(Code::kNotFound, "unknown local dir " + name_);
        }
        return failed;
      }
      return Fail(std::nullopt);
    }
    received_ = true;
    if (p->type() == Packet::PACKET_ERR) return Fail(std::nullopt, p->data());
    return OkStatus();
  }

  // Ends the call after a failure and says why. `own`: this side's verdict on what the client
  // sent (the call is cancelled). Otherwise the client's status when it gave one, else the
  // text of its ERR packet (`peer_text`), else that the stream ended.
  tl::unexpected<Error> Fail(std::optional<Error> own, std::string_view peer_text = {}) {
    if (finished_) {
      return Unexpected(
          own.value_or(Error(Code::kUnavailable, "local dir " + name_ + ": transfer ended")));
    }
    if (own) {
      context_.TryCancel();
    } else {
      stream_->WritesDone();
    }
    for (Packet p; stream_->Read(&p);) {
    }
    finished_ = true;
    grpc::Status s = stream_->Finish();
    if (own) return Unexpected(std::move(*own));
    if (!s.ok()) return Unexpected(FromGrpcStatus(s));
    if (!peer_text.empty()) {
      return Unexpected(Error(
          Code::kUnknown, "local dir " + name_ + ": the client failed: " + std::string(peer_text)));
    }
    return Unexpected(
        Error(Code::kUnavailable, "local dir " + name_ + ": the client ended the transfer early"));
  }

  std::string name_;
  grpc::ClientContext context_;
  std::unique_ptr<DiffCopyCall> stream_;
  std::unordered_map<std::string, Entry> entries_;
  std::deque<Announced> announced_;
  std::deque<InFlight> in_flight_;
  std::unordered_set<std::string> pipelined_;  // the paths in announced_ and in_flight_
  uint64_t in_flight_bytes_ = 0;
  bool walked_ = false;
  bool finished_ = false;
  bool received_ = false;  // a packet came
};

class RemoteClientDir final : public ClientDir {
 public:
  RemoteClientDir(std::shared_ptr<const RemoteConnection> conn, std::string name)
      : conn_(std::move(conn)), name_(std::move(name)) {}

  ~RemoteClientDir() override {
    std::lock_guard lock(mu_);
    CloseCurrent();
  }

  Status Walk(const WalkOptions& options, const std::function<Status(const FileEntry&)>& fn,
              CancelContext* cancel) override {
    std::lock_guard lock(mu_);
    CloseCurrent();
    HOIST_ASSIGN_OR_RETURN(auto t, Transfer::Start(*conn_, name_, options));
    HOIST_TRY(t->ReceiveWalk(fn, cancel));
    current_ = std::move(t);
    return OkStatus();
  }

  Status ReadFile(std::string_view path_view,
                  const std::function<Status(std::string_view chunk)>& sink) override {
    const std::string path(path_view);
    if (!ValidEntryPath(path)) {
      return MakeError(Code::kInvalidArgument,
                       "local dir " + name_ + ": invalid path \"" + path + "\"");
    }
    std::lock_guard lock(mu_);
    uint32_t id = 0;
    std::optional<Error> refusal;
    if (current_ && current_->usable()) {
      if (current_->IsAnnounced(path)) {
        Status st = current_->ReadAnnounced(path, sink);
        if (!current_->usable()) current_.reset();
        return st;
      }
      switch (current_->Find(path, &id, &refusal)) {
        case Transfer::Lookup::kFound: {
          Status st = current_->Read(path, id, sink);
          if (!current_->usable()) current_.reset();
          return st;
        }
        case Transfer::Lookup::kRefused:
          return Unexpected(std::move(*refusal));
        case Transfer::Lookup::kUnknown:
          break;
      }
    }
    // Not in the last walk (filtered out, or read before): a transfer of just this file.
    // (A name metadata cannot carry is asked for with wildcards, and picked from the walk.)
    WalkOptions options;
    options.follow_paths = {LiteralPattern(path)};
    HOIST_ASSIGN_OR_RETURN(auto t, Transfer::Start(*conn_, name_, options));
    HOIST_TRY(t->ReceiveWalk([](const FileEntry&) { return OkStatus(); }, nullptr));
    switch (t->Find(path, &id, &refusal)) {
      case Transfer::Lookup::kFound:
        HOIST_TRY(t->Read(path, id, sink));
        return t->Close();
      case Transfer::Lookup::kRefused:
        (void)t->Close();
        return Unexpected(std::move(*refusal));
      case Transfer::Lookup::kUnknown:
        break;
    }
    (void)t->Close();
    return Unexpected(ErrnoError(ENOENT, "local dir " + name_ + ": open " + path));
  }

  bool ReadsAhead() const override { return true; }
  void Prefetch(const std::vector<std::string>& paths) override {
    std::lock_guard lock(mu_);
    if (current_ && current_->usable()) current_->Announce(paths);
  }

  Result<std::unique_ptr<ReadableFile>> OpenFile(std::string_view path) override {
    std::string data;
    HOIST_TRY(ReadFile(path, [&](std::string_view chunk) -> Status {
      data.append(chunk);
      return OkStatus();
    }));
    return std::unique_ptr<ReadableFile>(std::make_unique<BufferFile>(std::move(data)));
  }

 private:
  void CloseCurrent() {
    if (current_) (void)current_->Close();
    current_.reset();
  }

  std::shared_ptr<const RemoteConnection> conn_;
  const std::string name_;
  std::mutex mu_;
  std::unique_ptr<Transfer> current_;  // the last walk, kept for its files
};

}  // namespace

std::shared_ptr<ClientDir> MakeRemoteClientDir(std::shared_ptr<const RemoteConnection> conn,
                                               std::string name) {
  return std::make_shared<RemoteClientDir>(std::move(conn), std::move(name));
}

}  // namespace hoist::session::internal
