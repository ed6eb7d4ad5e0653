// The overlay snapshotter (containerd's overlay snapshotter is the model).
//
// Snapshot `<id>` has `fs` (its own changes: the upper dir while active, a lower dir once
// committed) and, while active, `work` (overlayfs's work dir). Mounts:
//  - active, no parent: a rw bind of `fs`;
//  - active with parents: overlay, lowerdir = the parents' `fs` from the immediate parent down,
//    upperdir = `fs`, workdir = `work`;
//  - view, no parent: a ro bind of its own (empty) `fs`; one parent: a ro bind of the parent's
//    `fs`; more: a read-only overlay of the parents' `fs` dirs (lowerdir only).
// Paths are `<root>/snapshots/<id>/fs` with short decimal IDs, so a lowerdir of a layer costs
// the root's length plus a few bytes. mount(2) takes the options as one page (4095 bytes plus
// NUL), a limit that kernels with overlay's `lowerdir+` lift (MountAll then adds lower dirs one
// by one); overlayfs stacks at most 500 lower dirs. A chain beyond either is
// kResourceExhausted at Prepare/View, naming the snapshot and the sizes, before anything is
// created.
//
// EROFS-backed layers (snapshotter.h): with `erofs_layers`, an active snapshot offers
// `<id>/layer.erofs` as its layer image; a Commit that finds that file records the snapshot's
// tree as the image. Such a snapshot's `fs` is an empty directory until the image is mounted
// there, which happens (under the snapshotter's lock) the first time a Prepare, View or diff
// needs it; the snapshotter remembers what it mounted and detaches it on Remove and when it is
// destroyed.
//
// In-memory layers (PrepareLayer with `erofs_layers`): the snapshot's upper and work dirs live
// on a tmpfs mounted on `<id>/mem` (size-capped by `memory_limit`). Commit first, without the
// lock, diffs that upper dir into an unnamed temporary file and writes the tar as the layer's
// image, then detaches the tmpfs: the layer's files exist only in memory and in the image.
//
// When the overlay module would write `trusted.overlay.redirect` or metacopy xattrs by default,
// mounts turn those off, so that an upper dir always diffs on its own (archive/diff.h);
// `index=off` is passed where the module has the option (as containerd does), so lower dirs can
// be shared by many mounts at once.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include <set>

#include "archive/diff.h"
#include "archive/erofs_writer.h"
#include "archive/tar_writer.h"
#include "base/file_system.h"
#include "base/unique_fd.h"
#include "snapshot/internal/erofs_mount.h"
#include "snapshot/internal/snapshotter_base.h"

namespace hoist::snapshot {
namespace {

using internal::Record;

constexpr size_t kMaxMountData = 4095;
constexpr size_t kMaxLowerDirs = 500;

// Reads a file descriptor it does not own, from its current offset.
class FdByteSource final : public archive::ByteSource {
 public:
  explicit FdByteSource(int fd) : fd_(fd) {}
  Result<size_t> Read(void* buf, size_t n) override {
    for (;;) {
      const ssize_t got = ::read(fd_, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno != EINTR) return Unexpected(ErrnoError(errno, "read the layer's tar"));
    }
  }

 private:
  int fd_;
};

// The module parameter's value ("Y"/"N"), or "" without it.
std::string OverlayParameter(const std::string& name) {
  std::ifstream in("/sys/module/overlay/parameters/" + name);
  std::string v;
  in >> v;
  return v;
}

class OverlaySnapshotter final : public internal::SnapshotterBase {
 public:
  OverlaySnapshotter(std::string root, const OverlaySnapshotterOptions& options)
      : SnapshotterBase(std::move(root), "overlay"),
        erofs_layers_(options.erofs_layers),
        memory_limit_(options.memory_limit) {
    if (!OverlayParameter("index").empty()) extra_options_.push_back("index=off");
    if (OverlayParameter("redirect_dir") == "Y") extra_options_.push_back("redirect_dir=off");
    if (OverlayParameter("metacopy") == "Y") extra_options_.push_back("metacopy=off");
  }
  ~OverlaySnapshotter() override {
    for (uint64_t id : mounted_) (void)internal::DetachMount(FsDir(id));
  }
  Status Init() { return Open(); }
  bool TakesLayerImages() const override { return erofs_layers_; }

 protected:
  bool LayersInMemory() const override { return erofs_layers_ && memory_limit_ > 0; }

  Status CreateDirs(const Record& r, const std::vector<const Record*>&) override {
    std::string fs = FsDir(r.id);
    if (::mkdir(fs.c_str(), 0755) != 0) return Unexpected(ErrnoError(errno, "mkdir " + fs));
    if (r.tree == internal::Tree::kMemory) return CreateMemory(r);
    if (r.info.kind == Kind::kActive) {
      std::string work = SnapshotDir(r.id) + "/work";
      if (::mkdir(work.c_str(), 0700) != 0) {
        return Unexpected(ErrnoError(errno, "mkdir " + work));
      }
    }
    return OkStatus();
  }

  Result<std::vector<Mount>> MountsOf(const Record& r,
                                      const std::vector<const Record*>& parents) override {
    bool active = r.info.kind == Kind::kActive;
    for (const Record* p : parents) HOIST_TRY(MountTree(*p));
    const bool memory = r.tree == internal::Tree::kMemory;
    if (parents.empty()) {
      return std::vector<Mount>{{.type = "bind",
                                 .source = memory ? MemDir(r.id) + "/upper" : FsDir(r.id),
                                 .options = {active ? "rw" : "ro", "rbind"}}};
    }
    if (!active && parents.size() == 1) {
      return std::vector<Mount>{
          {.type = "bind", .source = FsDir(parents[0]->id), .options = {"ro", "rbind"}}};
    }
    if (parents.size() > kMaxLowerDirs) {
      return Unexpected(internal::SnapshotError(
          Code::kResourceExhausted, r.info.name,
          std::to_string(parents.size()) + " parents; overlayfs stacks at most " +
              std::to_string(kMaxLowerDirs) + " lower dirs"));
    }
    std::string lower = "lowerdir=";
    for (size_t i = 0; i < parents.size(); ++i) {
      if (i > 0) lower += ':';
      lower += FsDir(parents[i]->id);
    }
    Mount m{.type = "overlay", .source = "overlay", .options = {}};
    m.options = extra_options_;
    if (active && memory) {
      m.options.push_back("workdir=" + MemDir(r.id) + "/work");
      m.options.push_back("upperdir=" + MemDir(r.id) + "/upper");
    } else if (active) {
      m.options.push_back("workdir=" + SnapshotDir(r.id) + "/work");
      m.options.push_back("upperdir=" + FsDir(r.id));
    } else {
      m.options.push_back("ro");
    }
    m.options.push_back(std::move(lower));
    size_t data = 0;
    for (const auto& o : m.options) {
      if (o != "ro" && o != "rw") data += o.size() + 1;
    }
    if (data > kMaxMountData + 1 && !OverlayTakesLowerDirsOneByOne()) {
      return Unexpected(internal::SnapshotError(
          Code::kResourceExhausted, r.info.name,
          "overlay mount options for " + std::to_string(parents.size()) + " parents are " +
              std::to_string(data - 1) + " bytes, more than the " +
              std::to_string(kMaxMountData) + " a mount accepts (use a shorter root path)"));
    }
    return std::vector<Mount>{std::move(m)};
  }

  WritableDir WritableOf(const Record& r) override {
    if (r.tree == internal::Tree::kMemory) {
      return {.path = MemDir(r.id) + "/upper", .overlay_upper = true};
    }
    return {.path = FsDir(r.id),
            .overlay_upper = true,
            .layer_image = erofs_layers_ ? ImagePath(r.id) : std::string()};
  }

  Status DiffOf(const Record& r, const std::vector<const Record*>&, archive::TarWriter* out,
                const archive::DiffOptions& options) override {
    HOIST_TRY(MountTree(r));
    return archive::WriteOverlayUpperDiff(UpperOf(r), out, options);
  }

  Status BeforeCommit(const Record& r) override {
    if (r.tree != internal::Tree::kMemory) return OkStatus();
    const std::string dir = SnapshotDir(r.id);
    // The layer as a tar first: an unnamed file, gone when closed.
    UniqueFd tar(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!tar) return Unexpected(ErrnoError(errno, "create the layer's temporary tar"));
    {
      archive::FdByteSink sink(tar.get());
      archive::TarWriter writer(&sink);
      HOIST_TRY(archive::WriteOverlayUpperDiff(MemDir(r.id) + "/upper", &writer));
      HOIST_TRY(writer.Close());
    }
    if (::lseek(tar.get(), 0, SEEK_SET) != 0) {
      return Unexpected(ErrnoError(errno, "rewind the layer's temporary tar"));
    }
    UniqueFd image(::open(ImagePath(r.id).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!image) return Unexpected(ErrnoError(errno, "create " + ImagePath(r.id)));
    FdByteSource source(tar.get());
    HOIST_TRY(archive::WriteLayerErofs(source, image.get()).map([](auto&&) {}));
    if (::fsync(image.get()) != 0) return Unexpected(ErrnoError(errno, "sync " + ImagePath(r.id)));
    HOIST_TRY(internal::DetachMount(MemDir(r.id)));
    (void)::rmdir(MemDir(r.id).c_str());
    return OkStatus();
  }

  Status CommitTree(Record& r) override {
    struct stat st;
    if (::lstat(ImagePath(r.id).c_str(), &st) != 0) {
      if (errno == ENOENT && r.tree == internal::Tree::kMemory) {
        return MakeError(Code::kInternal, "the in-memory layer was not written as an image");
      }
      if (errno == ENOENT) return OkStatus();
      return Unexpected(ErrnoError(errno, "stat " + ImagePath(r.id)));
    }
    if (!S_ISREG(st.st_mode)) {
      return MakeError(Code::kFailedPrecondition, ImagePath(r.id) + ": not a regular file");
    }
    r.tree = internal::Tree::kErofs;
    return OkStatus();
  }

  void ReleaseTree(const Record& r) override {
    if (mounted_.erase(r.id) > 0) (void)internal::DetachMount(FsDir(r.id));
    if (r.tree == internal::Tree::kMemory) (void)internal::DetachMount(MemDir(r.id));
  }

  std::string UsagePath(const Record& r) override {
    return r.tree == internal::Tree::kErofs ? ImagePath(r.id) : UpperOf(r);
  }

 private:
  std::string ImagePath(uint64_t id) const { return SnapshotDir(id) + "/layer.erofs"; }
  std::string MemDir(uint64_t id) const { return SnapshotDir(id) + "/mem"; }
  // Where an active snapshot's changes are (a committed one's: its tree).
  std::string UpperOf(const Record& r) const {
    return r.tree == internal::Tree::kMemory ? MemDir(r.id) + "/upper" : FsDir(r.id);
  }

  // A tmpfs on `mem` with the upper and work dirs of an in-memory layer.
  Status CreateMemory(const Record& r) {
    const std::string mem = MemDir(r.id);
    if (::mkdir(mem.c_str(), 0700) != 0) return Unexpected(ErrnoError(errno, "mkdir " + mem));
    const std::string data = "size=" + std::to_string(memory_limit_) + ",mode=0700";
    if (::mount("tmpfs", mem.c_str(), "tmpfs", MS_NOSUID, data.c_str()) != 0) {
      return Unexpected(ErrnoError(errno, "mount tmpfs on " + mem));
    }
    for (auto [name, mode] : {std::pair{"/upper", 0755}, std::pair{"/work", 0700}}) {
      if (::mkdir((mem + name).c_str(), static_cast<mode_t>(mode)) != 0) {
        const int err = errno;
        (void)internal::DetachMount(mem);
        return Unexpected(ErrnoError(err, "mkdir " + mem + name));
      }
    }
    return OkStatus();
  }

  // Mounts an EROFS-backed snapshot's image on its `fs`, once.
  Status MountTree(const Record& r) {
    if (r.tree != internal::Tree::kErofs || mounted_.count(r.id) != 0) return OkStatus();
    if (auto s = internal::MountErofs(ImagePath(r.id), FsDir(r.id)); !s) {
      return Unexpected(std::move(s).error().Wrap("snapshot \"" + r.info.name + "\""));
    }
    mounted_.insert(r.id);
    return OkStatus();
  }

  const bool erofs_layers_;
  const int64_t memory_limit_;
  std::vector<std::string> extra_options_;
  std::set<uint64_t> mounted_;  // IDs whose image this snapshotter mounted; guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Snapshotter>> OpenOverlaySnapshotter(
    const std::string& root, const OverlaySnapshotterOptions& options) {
  auto s = std::make_unique<OverlaySnapshotter>(root, options);
  HOIST_TRY(s->Init());
  return std::unique_ptr<Snapshotter>(std::move(s));
}

Result<std::unique_ptr<Snapshotter>> OpenOverlaySnapshotter(const std::string& root) {
  return OpenOverlaySnapshotter(root, {});
}

Result<std::unique_ptr<Snapshotter>> OpenErofsSnapshotter(const std::string& root) {
  return OpenOverlaySnapshotter(root, {.erofs_layers = true});
}

}  // namespace hoist::snapshot
