#include "solver/ops/context_snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "archive/erofs_writer.h"
#include "archive/tar_writer.h"
#include "base/atomic_file.h"
#include "base/file_system.h"
#include "base/stat_time.h"
#include "base/unique_fd.h"
#include "oci/digest.h"
#include "solver/ops/internal/ops.h"

namespace hoist::solver::ops {
namespace {

using internal::MountedSnapshot;
using internal::CommitLayerImage;
using source::ContextEntry;

// Whether the previous generation under `root` holds `e` as it is now on the client.
bool Same(int root, const ContextEntry& e) {
  UniqueFd fd = OpenBeneath(root, e.path, O_PATH);
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0) return false;
  if (st.st_mode != e.mode || st.st_uid != e.uid || st.st_gid != e.gid ||
      MtimeNs(st) != e.mtime_ns) {
    return false;
  }
  if (S_ISREG(e.mode)) return static_cast<uint64_t>(st.st_size) == e.size;
  if (S_ISLNK(e.mode)) {
    std::string target(4096, '\0');
    ssize_t n = ::readlinkat(fd.get(), "", target.data(), target.size());
    return n >= 0 && std::string_view(target.data(), static_cast<size_t>(n)) == e.link_target;
  }
  return true;
}

// The number of entries below the directory `dir` (consumed), or -1 when it cannot be read.
int64_t CountBelow(UniqueFd dir) {
  DIR* d = ::fdopendir(dir.Release());
  if (d == nullptr) return -1;
  int64_t n = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    ++n;
    if (e->d_type == DT_DIR) {
      UniqueFd sub(::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      int64_t below = sub ? CountBelow(std::move(sub)) : -1;
      if (below < 0) {
        n = -1;
        break;
      }
      n += below;
    }
  }
  ::closedir(d);
  return n;
}

// The two ends of the tar stream between the thread that reads the files and the image's
// writer: a socket pair, so that a writer that stopped makes the reader's send fail (EPIPE)
// rather than raise SIGPIPE.
class SocketSink final : public archive::ByteSink {
 public:
  explicit SocketSink(int fd) : fd_(fd) {}
  Status Write(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        broken_ = true;
        return Unexpected(ErrnoError(errno, "pass the context's files on"));
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return OkStatus();
  }
  // Whether a write failed: the reading side stopped.
  bool broken() const { return broken_; }

 private:
  int fd_;
  bool broken_ = false;
};

class SocketSource final : public archive::ByteSource {
 public:
  explicit SocketSource(int fd) : fd_(fd) {}
  Result<size_t> Read(void* buf, size_t n) override {
    for (;;) {
      ssize_t r = ::recv(fd_, buf, n, 0);
      if (r >= 0) return static_cast<size_t>(r);
      if (errno != EINTR) return Unexpected(ErrnoError(errno, "take the context's files"));
    }
  }

 private:
  int fd_;
};

// What a generation holds, but for its files' bytes: each entry's header, in order. A record
// naming a generation keeps this digest of the walk it was written from, so that a walk that
// finds the same needs no look at the generation itself.
oci::Digest EntriesDigest(const std::vector<const ContextEntry*>& kept) {
  oci::Digester d;
  for (const ContextEntry* e : kept) {
    // Strings length-prefixed: no two walks serialise alike.
    const std::string line = fmt::format(
        "{}:{} {:o} {} {} {} {} {}:{} {}:{}\n", e->path.size(), e->path, e->mode, e->uid, e->gid,
        S_ISREG(e->mode) ? e->size : 0, e->mtime_ns, e->link_target.size(), e->link_target,
        e->hardlink_to.size(), e->hardlink_to);
    d.Update(line.data(), line.size());
  }
  return d.Finish();
}

// The record's two lines: the generation's name, then the digest of its entries (missing in
// records written before it was kept).
struct MirrorRecord {
  std::string name;
  std::string entries;
};

MirrorRecord ReadMirrorRecord(const std::string& record) {
  MirrorRecord r;
  auto text = PosixFileSystem()->ReadFile(record, 4096);
  if (!text) return r;
  const size_t nl = text->find('\n');
  r.name = text->substr(0, nl);
  while (!r.name.empty() && r.name.back() == ' ') r.name.pop_back();
  if (nl != std::string::npos) {
    r.entries = text->substr(nl + 1);
    while (!r.entries.empty() && (r.entries.back() == '\n' || r.entries.back() == ' ')) {
      r.entries.pop_back();
    }
  }
  return r;
}

Status WriteMirrorRecord(const std::string& record, const std::string& name,
                         const oci::Digest& entries) {
  return WriteFileAtomic(PosixFileSystem(), record, name + "\n" + entries.str() + "\n", 0600);
}

archive::TarEntry HeaderOf(const ContextEntry& e) {
  archive::TarEntry h;
  h.name = e.path;
  h.mode = e.mode & 07777;
  h.uid = e.uid;
  h.gid = e.gid;
  const struct timespec mtime = TimespecOf(e.mtime_ns);
  h.mtime = {.sec = mtime.tv_sec, .nsec = static_cast<int32_t>(mtime.tv_nsec)};
  if (S_ISDIR(e.mode)) {
    h.type = archive::TarEntryType::kDirectory;
  } else if (S_ISLNK(e.mode)) {
    h.type = archive::TarEntryType::kSymlink;
    h.linkname = e.link_target;
  } else if (!e.hardlink_to.empty()) {
    h.type = archive::TarEntryType::kHardlink;
    h.linkname = e.hardlink_to;
  } else {
    h.type = archive::TarEntryType::kRegular;
    h.size = static_cast<int64_t>(e.size);
  }
  return h;
}

// Writes the tar of `kept` to `out`: each regular file from the previous generation under
// `prev` where `from_prev` says so, else from the client.
Status WriteTar(archive::ByteSink& out, const std::vector<const ContextEntry*>& kept,
                const std::vector<bool>& from_prev, int prev, source::ContextReader& reader,
                CancelContext* cancel, ContextSnapshotStats& stats) {
  archive::TarWriter tar(&out, {.subsecond_mtime = true});
  std::string buf;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    const ContextEntry& e = *kept[i];
    const archive::TarEntry h = HeaderOf(e);
    HOIST_TRY(tar.WriteHeader(h));
    if (h.type != archive::TarEntryType::kRegular) continue;
    uint64_t got = 0;
    auto body = [&](std::string_view chunk) -> Status {
      if (chunk.size() > e.size - got) {
        return MakeError(Code::kAborted,
                         fmt::format("\"{}\" grew while it was read ({} bytes in the walk)", e.path,
                                     e.size));
      }
      got += chunk.size();
      return tar.WriteData(chunk);
    };
    if (from_prev[i]) {
      UniqueFd fd = OpenBeneath(prev, e.path, O_RDONLY);
      if (!fd) return Unexpected(ErrnoError(errno, "read \"" + e.path + "\" from the mirror"));
      buf.resize(64 << 10);
      for (;;) {
        ssize_t n = ::read(fd.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Unexpected(ErrnoError(errno, "read \"" + e.path + "\" from the mirror"));
        if (n == 0) break;
        HOIST_TRY(body(std::string_view(buf.data(), static_cast<size_t>(n))));
      }
    } else {
      HOIST_TRY(reader.ReadFile(e.path, body));
      ++stats.files_read;
      stats.bytes_read += got;
    }
    if (got != e.size) {
      return MakeError(Code::kAborted,
                       fmt::format("\"{}\" shrank while it was read ({} bytes of {} in the walk)",
                                   e.path, got, e.size));
    }
  }
  return tar.Close();
}

}  // namespace

std::string MirrorSnapshotName(const std::string& record) { return ReadMirrorRecord(record).name; }

Result<std::string> SyncContextSnapshot(snapshot::Snapshotter& snapshots,
                                        const std::string& state_dir,
                                        source::ContextReader& reader,
                                        const source::ContextFilter& filter,
                                        const std::string& record, CancelContext* cancel,
                                        ContextSnapshotStats* stats_out) {
  ContextSnapshotStats stats;
  HOIST_ASSIGN_OR_RETURN(std::vector<ContextEntry> entries, source::SelectContext(reader, filter));
  std::vector<const ContextEntry*> kept;
  for (const ContextEntry& e : entries) {
    if (S_ISDIR(e.mode) || S_ISLNK(e.mode) || S_ISREG(e.mode)) kept.push_back(&e);
  }
  stats.entries = kept.size();
  const oci::Digest digest = EntriesDigest(kept);

  // The previous generation, if the record names one that is still there.
  const MirrorRecord was = ReadMirrorRecord(record);
  std::string prev = was.name;
  if (!prev.empty()) {
    auto info = snapshots.Stat(prev);
    if (!info || info->kind != snapshot::Kind::kCommitted) prev.clear();
  }
  if (!prev.empty() && was.entries == digest.str()) {
    stats.reused = true;
    if (stats_out != nullptr) *stats_out = stats;
    return prev;
  }
  std::unique_ptr<MountedSnapshot> prev_view;
  UniqueFd prev_root;
  if (!prev.empty()) {
    if (auto view = MountedSnapshot::Create(snapshots, prev, false, state_dir)) {
      stats.mounted_previous = true;
      prev_view = std::move(*view);
      prev_root = UniqueFd(::open(prev_view->path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    }
  }
  std::vector<bool> from_prev(kept.size(), false);
  bool unchanged = static_cast<bool>(prev_root);
  std::vector<std::string> to_read;
  for (size_t i = 0; i < kept.size(); ++i) {
    const ContextEntry& e = *kept[i];
    const bool same = prev_root && Same(prev_root.get(), e);
    unchanged = unchanged && same;
    if (!S_ISREG(e.mode) || !e.hardlink_to.empty()) continue;
    if (same) {
      from_prev[i] = true;
    } else {
      to_read.push_back(e.path);
    }
  }
  if (unchanged) {
    UniqueFd top(::openat(prev_root.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (top && CountBelow(std::move(top)) == static_cast<int64_t>(kept.size())) {
      stats.reused = true;
      // A record from before the digest was kept gets it, for the next sync.
      (void)WriteMirrorRecord(record, prev, digest);
      if (stats_out != nullptr) *stats_out = stats;
      return prev;
    }
  }
  if (!to_read.empty()) reader.Prefetch(to_read);

  // The new generation: the tar of the entries, written as the snapshot's layer image while
  // another thread reads the files.
  auto committed = CommitLayerImage(snapshots, "", "context", [&](int image) -> Status {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return Unexpected(ErrnoError(errno, "socketpair"));
    }
    UniqueFd tar_out(fds[0]), tar_in(fds[1]);
    Status produced = OkStatus();
    SocketSink sink(tar_out.get());
    std::thread producer([&] {
      produced = WriteTar(sink, kept, from_prev, prev_root.get(), reader, cancel, stats);
      ::shutdown(tar_out.get(), SHUT_WR);
    });
    SocketSource source(tar_in.get());
    Status consumed = archive::WriteLayerErofs(source, image, {.cancel = cancel}).map([](auto&&) {});
    // A writer that stopped early stops the reader too.
    ::shutdown(tar_in.get(), SHUT_RDWR);
    producer.join();
    // The reading side's failure explains a truncated stream better than the writer's, unless
    // it failed because the writer had stopped.
    if (!produced && (consumed || !sink.broken())) return produced;
    return consumed;
  });
  if (!committed) return Unexpected(std::move(committed).error());
  const std::string& name = *committed;
  if (Status st = WriteMirrorRecord(record, name, digest); !st) {
    (void)snapshots.Remove(name);
    return Unexpected(std::move(st).error());
  }
  // The previous generation goes once nothing of it is mounted here.
  prev_root.Reset();
  prev_view.reset();
  if (!prev.empty()) (void)snapshots.Remove(prev);
  if (stats_out != nullptr) *stats_out = stats;
  return name;
}

}  // namespace hoist::solver::ops
