// The native snapshotter (containerd's native snapshotter is the model): no overlay, every
// active snapshot and view is a full copy of its parent's tree (internal/tree_copy.h), mounted
// by a bind (read-only for views). Committing keeps the copy as it is. Works on any filesystem
// and needs no overlayfs, at the price of a copy per Prepare.
//
// Diffs compare the parent's tree with the snapshot's (archive::WriteTreeDiff); a snapshot
// without a parent is compared with an empty directory.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "archive/diff.h"
#include "base/temp_dir.h"
#include "snapshot/internal/snapshotter_base.h"
#include "snapshot/internal/tree_copy.h"

namespace hoist::snapshot {
namespace {

using internal::Record;

class NativeSnapshotter final : public internal::SnapshotterBase {
 public:
  explicit NativeSnapshotter(std::string root) : SnapshotterBase(std::move(root), "native") {}
  Status Init() { return Open(); }

 protected:
  Status CreateDirs(const Record& r, const std::vector<const Record*>& parents) override {
    std::string fs = FsDir(r.id);
    if (::mkdir(fs.c_str(), 0755) != 0) return Unexpected(ErrnoError(errno, "mkdir " + fs));
    if (parents.empty()) return OkStatus();
    return internal::CopyTree(FsDir(parents[0]->id), fs);
  }

  Result<std::vector<Mount>> MountsOf(const Record& r,
                                      const std::vector<const Record*>&) override {
    bool active = r.info.kind == Kind::kActive;
    return std::vector<Mount>{
        {.type = "bind", .source = FsDir(r.id), .options = {active ? "rw" : "ro", "rbind"}}};
  }

  WritableDir WritableOf(const Record& r) override {
    return {.path = FsDir(r.id), .overlay_upper = false};
  }

  Status DiffOf(const Record& r, const std::vector<const Record*>& parents,
                archive::TarWriter* out, const archive::DiffOptions& options) override {
    if (!parents.empty()) return archive::WriteTreeDiff(FsDir(parents[0]->id), FsDir(r.id), out, options);
    HOIST_ASSIGN_OR_RETURN(TempDir empty, TempDir::Create("hoist-empty-"));
    return archive::WriteTreeDiff(empty.path(), FsDir(r.id), out, options);
  }
};

}  // namespace

Result<std::unique_ptr<Snapshotter>> OpenNativeSnapshotter(const std::string& root) {
  auto s = std::make_unique<NativeSnapshotter>(root);
  HOIST_TRY(s->Init());
  return std::unique_ptr<Snapshotter>(std::move(s));
}

}  // namespace hoist::snapshot
