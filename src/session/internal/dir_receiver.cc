#include "session/internal/dir_receiver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <map>

#include "api/fsutil/wire.pb.h"
#include "base/file_system.h"
#include "session/internal/fsutil_send.h"

namespace hoist::session::internal {
namespace {

using fsutil::types::Packet;

// File contents asked for at once: enough to keep a link busy, few enough descriptors.
constexpr size_t kRequestWindow = 64;
constexpr mode_t kNoSetId = ~static_cast<mode_t>(S_ISUID | S_ISGID);

std::string ParentOf(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? std::string() : std::string(p.substr(0, s));
}

std::string BaseOf(std::string_view p) {
  size_t s = p.rfind('/');
  return std::string(s == std::string_view::npos ? p : p.substr(s + 1));
}

struct timespec Ts(int64_t ns) {
  struct timespec t;
  t.tv_sec = static_cast<time_t>(ns / 1000000000);
  t.tv_nsec = static_cast<long>(ns % 1000000000);
  if (t.tv_nsec < 0) {
    t.tv_nsec += 1000000000;
    --t.tv_sec;
  }
  return t;
}

Error PathError(int err, std::string_view op, std::string_view path) {
  return ErrnoError(err, std::string(op) + " " + std::string(path));
}

// Removes `name` in `parent` and, for a directory, everything below it, following no symlink.
int RemoveAt(int parent, const char* name) {
  struct stat st;
  if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return errno == ENOENT ? 0 : errno;
  if (!S_ISDIR(st.st_mode)) return unlinkat(parent, name, 0) == 0 ? 0 : errno;
  int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    int err = errno;
    close(fd);
    return err;
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = 0;
  for (const std::string& n : names) {
    err = RemoveAt(::dirfd(d), n.c_str());
    if (err != 0) break;
  }
  closedir(d);
  if (err != 0) return err;
  return unlinkat(parent, name, AT_REMOVEDIR) == 0 ? 0 : errno;
}

}  // namespace

ConfinedDirWriter::ConfinedDirWriter(UniqueFd root) : root_(std::move(root)) {
  chain_.push_back(Level{"", UniqueFd(dup(root_.get()))});
}

Result<std::unique_ptr<ConfinedDirWriter>> ConfinedDirWriter::Open(const std::string& dest) {
  if (auto st = PosixFileSystem()->MakeDirs(dest, 0755); !st) {
    return MakeError(st.error().code(),
                     "create the output directory: " + std::string(CodeName(st.error().code())));
  }
  UniqueFd fd(open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Unexpected(ErrnoError(errno, "open the output directory"));
  return std::unique_ptr<ConfinedDirWriter>(new ConfinedDirWriter(std::move(fd)));
}

Result<UniqueFd> ConfinedDirWriter::OpenDirBelow(const std::string& dir, int flags) {
  UniqueFd cur(openat(root_.get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return Unexpected(ErrnoError(errno, "open the output directory"));
  for (size_t start = 0; start < dir.size();) {
    size_t slash = dir.find('/', start);
    if (slash == std::string::npos) slash = dir.size();
    std::string part = dir.substr(start, slash - start);
    bool last = slash == dir.size();
    UniqueFd next(openat(cur.get(), part.c_str(),
                         (last ? flags : O_PATH) | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return Unexpected(PathError(errno, "open", dir.substr(0, slash)));
    cur = std::move(next);
    start = slash + 1;
  }
  if (dir.empty()) {
    UniqueFd again(openat(root_.get(), ".", flags | O_DIRECTORY | O_CLOEXEC));
    if (!again) return Unexpected(ErrnoError(errno, "open the output directory"));
    return again;
  }
  return cur;
}

Status ConfinedDirWriter::Add(const FileEntry& e) {
  HOIST_TRY(order_.Check(e, "output"));
  const std::string parent = ParentOf(e.path), base = BaseOf(e.path);
  // WalkOrder found the parent among the open directories.
  while (chain_.back().path != parent) chain_.pop_back();
  const int dfd = chain_.back().fd.get();
  const char* name = base.c_str();
  struct stat st;
  bool exists = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) return Unexpected(PathError(errno, "stat", e.path));
  auto clear = [&]() -> Status {
    if (!exists) return OkStatus();
    if (int err = RemoveAt(dfd, name); err != 0) {
      return Unexpected(PathError(err, "remove", e.path));
    }
    exists = false;
    return OkStatus();
  };

  if (S_ISDIR(e.mode)) {
    if (exists && !S_ISDIR(st.st_mode)) HOIST_TRY(clear());
    if (!exists && mkdirat(dfd, name, 0700) != 0) {
      return Unexpected(PathError(errno, "mkdir", e.path));
    }
    UniqueFd fd(openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Unexpected(PathError(errno, "open", e.path));
    chain_.push_back(Level{e.path, std::move(fd)});
    dirs_.push_back(e);
    return OkStatus();
  }
  if (S_ISLNK(e.mode)) {
    if (e.link_target.empty() || e.link_target.find('\0') != std::string::npos) {
      return MakeError(Code::kInvalidArgument, "output: \"" + e.path + "\": invalid link target");
    }
    HOIST_TRY(clear());
    if (symlinkat(e.link_target.c_str(), dfd, name) != 0) {
      return Unexpected(PathError(errno, "symlink", e.path));
    }
    struct timespec ts[2] = {Ts(e.mtime_ns), Ts(e.mtime_ns)};
    utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
    return OkStatus();
  }
  if (S_ISREG(e.mode) && !e.hardlink_to.empty()) {
    // WalkOrder checked that the target is an earlier regular file of this stream.
    HOIST_ASSIGN_OR_RETURN(UniqueFd from, OpenDirBelow(ParentOf(e.hardlink_to), O_PATH));
    HOIST_TRY(clear());
    if (linkat(from.get(), BaseOf(e.hardlink_to).c_str(), dfd, name, 0) != 0) {
      return Unexpected(PathError(errno, "link", e.path));
    }
    return OkStatus();
  }
  if (S_ISREG(e.mode)) {
    HOIST_TRY(clear());
    UniqueFd fd(openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return Unexpected(PathError(errno, "create", e.path));
    return OkStatus();
  }
  if (S_ISFIFO(e.mode)) {
    HOIST_TRY(clear());
    if (mkfifoat(dfd, name, e.mode & 0777) != 0) {
      return Unexpected(PathError(errno, "mkfifo", e.path));
    }
    if (fchmodat(dfd, name, e.mode & 07777 & kNoSetId, 0) != 0) {
      return Unexpected(PathError(errno, "chmod", e.path));
    }
    struct timespec ts[2] = {Ts(e.mtime_ns), Ts(e.mtime_ns)};
    utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW);
    return OkStatus();
  }
  // Devices and sockets: a client does not recreate them (it could not, unprivileged).
  return OkStatus();
}

Result<UniqueFd> ConfinedDirWriter::OpenData(const std::string& path) {
  if (!ValidEntryPath(path)) {
    return MakeError(Code::kInvalidArgument, "output: \"" + path + "\": invalid path");
  }
  HOIST_ASSIGN_OR_RETURN(UniqueFd dir, OpenDirBelow(ParentOf(path), O_PATH));
  // O_NONBLOCK: should something else have put a FIFO there, the open must not hang.
  UniqueFd fd(openat(dir.get(), BaseOf(path).c_str(),
                     O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return Unexpected(PathError(errno, "open", path));
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Unexpected(PathError(errno, "stat", path));
  if (!S_ISREG(st.st_mode)) {
    return MakeError(Code::kFailedPrecondition, "output: \"" + path + "\" is not a regular file");
  }
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags >= 0) fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

Status ConfinedDirWriter::FinishData(int fd, const FileEntry& e) {
  if (fchmod(fd, e.mode & 07777 & kNoSetId) != 0) {
    return Unexpected(PathError(errno, "chmod", e.path));
  }
  struct timespec ts[2] = {Ts(e.mtime_ns), Ts(e.mtime_ns)};
  if (futimens(fd, ts) != 0) return Unexpected(PathError(errno, "set times of", e.path));
  return OkStatus();
}

Status ConfinedDirWriter::Finish() {
  chain_.resize(1);
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    HOIST_ASSIGN_OR_RETURN(UniqueFd fd, OpenDirBelow(it->path, O_RDONLY));
    HOIST_TRY(FinishData(fd.get(), *it));
  }
  dirs_.clear();
  return OkStatus();
}

namespace {

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Unexpected(PathError(errno, "write", path));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

class Receiver {
 public:
  Receiver(PacketStream& stream, ConfinedDirWriter& writer, CancelContext* cancel)
      : stream_(stream), writer_(writer), cancel_(cancel) {}

  Status Run() {
    Status st = Receive();
    if (!st && !peer_failed_ && !broken_) {
      Packet err;
      err.set_type(Packet::PACKET_ERR);
      err.set_data(st.error().message());
      stream_.Send(err);
    }
    return st;
  }

 private:
  struct Pending {
    FileEntry entry;
    UniqueFd fd;
  };

  // Takes the walk and the files' contents together: a regular file is asked for as soon as
  // its entry is written (a window of requests at a time), so the sender's data flows while
  // the rest of the walk is still being written here, as fsutil's receiver asks while it walks.
  Status Receive() {
    uint32_t id = 0;
    bool walked = false;
    std::deque<std::pair<uint32_t, FileEntry>> wanted;  // not asked for yet
    std::map<uint32_t, Pending> open;
    // Requests are sent with `more`: they go out when this side next waits (ReceiveTree).
    auto request = [&]() -> Status {
      while (!wanted.empty() && open.size() < kRequestWindow) {
        auto [fid, e] = std::move(wanted.front());
        wanted.pop_front();
        HOIST_ASSIGN_OR_RETURN(UniqueFd fd, writer_.OpenData(e.path));
        open.emplace(fid, Pending{std::move(e), std::move(fd)});
        Packet req;
        req.set_type(Packet::PACKET_REQ);
        req.set_id(fid);
        if (!stream_.Send(req, /*more=*/true)) return Fail(BrokenStreamError());
      }
      return OkStatus();
    };
    for (Packet p; !walked || !open.empty();) {
      if (cancel_ != nullptr) HOIST_TRY(cancel_->Check());
      HOIST_TRY(Next(&p));
      if (p.type() == Packet::PACKET_STAT) {
        if (walked) {
          return MakeError(Code::kInvalidArgument, "output: an entry after the end of the walk");
        }
        if (!p.has_stat()) {
          walked = true;
          continue;
        }
        FileEntry e = EntryFromStat(p.stat());
        HOIST_TRY(writer_.Add(e));
        if (S_ISREG(e.mode) && e.hardlink_to.empty()) {
          wanted.emplace_back(id, std::move(e));
          HOIST_TRY(request());
        }
        ++id;
        continue;
      }
      if (p.type() != Packet::PACKET_DATA) {
        return MakeError(Code::kInvalidArgument, "output: unexpected packet while receiving files");
      }
      auto it = open.find(p.id());
      if (it == open.end()) {
        return MakeError(
            Code::kInvalidArgument,
            "output: data for file ID " + std::to_string(p.id()) + ", which was not asked for");
      }
      if (!p.data().empty()) {
        HOIST_TRY(WriteAll(it->second.fd.get(), p.data(), it->second.entry.path));
        continue;
      }
      HOIST_TRY(writer_.FinishData(it->second.fd.get(), it->second.entry));
      open.erase(it);
      HOIST_TRY(request());
    }
    HOIST_TRY(writer_.Finish());
    Packet fin;
    fin.set_type(Packet::PACKET_FIN);
    if (!stream_.Send(fin)) return Fail(BrokenStreamError());
    // The sender answers FIN and hangs up.
    for (Packet p; stream_.Recv(&p);) {
      if (p.type() == Packet::PACKET_FIN) break;
    }
    return OkStatus();
  }

  // The next packet; the sender's ERR and a broken stream are errors.
  Status Next(Packet* p) {
    if (!stream_.Recv(p)) return Fail(BrokenStreamError());
    if (p->type() == Packet::PACKET_ERR) {
      peer_failed_ = true;
      return MakeError(Code::kUnknown, "error from sender: " + p->data());
    }
    return OkStatus();
  }

  tl::unexpected<Error> Fail(Error e) {
    broken_ = true;
    return Unexpected(std::move(e));
  }

  PacketStream& stream_;
  ConfinedDirWriter& writer_;
  CancelContext* cancel_;
  bool peer_failed_ = false;
  bool broken_ = false;
};

}  // namespace

Status ReceiveTree(PacketStream& stream, ConfinedDirWriter& writer, CancelContext* cancel) {
  Receiver r(stream, writer, cancel);
  return r.Run();
}

Status CopyTree(ClientDir& dir, ConfinedDirWriter& writer, CancelContext* cancel) {
  HOIST_TRY(dir.Walk(
      {},
      [&](const FileEntry& e) -> Status {
        HOIST_TRY(writer.Add(e));
        if (!S_ISREG(e.mode) || !e.hardlink_to.empty()) return OkStatus();
        HOIST_ASSIGN_OR_RETURN(UniqueFd fd, writer.OpenData(e.path));
        HOIST_TRY(dir.ReadFile(
            e.path, [&](std::string_view chunk) { return WriteAll(fd.get(), chunk, e.path); }));
        return writer.FinishData(fd.get(), e);
      },
      cancel));
  return writer.Finish();
}

}  // namespace hoist::session::internal
