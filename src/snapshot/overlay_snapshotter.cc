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
// NUL) and overlayfs stacks at most 500 lower dirs; a chain beyond either is kResourceExhausted
// at Prepare/View, naming the snapshot and the sizes, before anything is created.
//
// When the overlay module would write `trusted.overlay.redirect` or metacopy xattrs by default,
// mounts turn those off, so that an upper dir always diffs on its own (archive/diff.h);
// `index=off` is passed where the module has the option (as containerd does), so lower dirs can
// be shared by many mounts at once.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "archive/diff.h"
#include "base/file_system.h"
#include "snapshot/internal/snapshotter_base.h"

namespace hoist::snapshot {
namespace {

using internal::Record;

constexpr size_t kMaxMountData = 4095;
constexpr size_t kMaxLowerDirs = 500;

// The module parameter's value ("Y"/"N"), or "" without it.
std::string OverlayParameter(const std::string& name) {
  std::ifstream in("/sys/module/overlay/parameters/" + name);
  std::string v;
  in >> v;
  return v;
}

class OverlaySnapshotter final : public internal::SnapshotterBase {
 public:
  explicit OverlaySnapshotter(std::string root) : SnapshotterBase(std::move(root), "overlay") {
    if (!OverlayParameter("index").empty()) extra_options_.push_back("index=off");
    if (OverlayParameter("redirect_dir") == "Y") extra_options_.push_back("redirect_dir=off");
    if (OverlayParameter("metacopy") == "Y") extra_options_.push_back("metacopy=off");
  }
  Status Init() { return Open(); }

 protected:
  Status CreateDirs(const Record& r, const std::vector<const Record*>&) override {
    std::string fs = FsDir(r.id);
    if (::mkdir(fs.c_str(), 0755) != 0) return Unexpected(ErrnoError(errno, "mkdir " + fs));
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
    if (parents.empty()) {
      return std::vector<Mount>{{.type = "bind",
                                 .source = FsDir(r.id),
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
    if (active) {
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
    if (data > kMaxMountData + 1) {
      return Unexpected(internal::SnapshotError(
          Code::kResourceExhausted, r.info.name,
          "overlay mount options for " + std::to_string(parents.size()) + " parents are " +
              std::to_string(data - 1) + " bytes, more than the " +
              std::to_string(kMaxMountData) + " a mount accepts (use a shorter root path)"));
    }
    return std::vector<Mount>{std::move(m)};
  }

  WritableDir WritableOf(const Record& r) override {
    return {.path = FsDir(r.id), .overlay_upper = true};
  }

  Status DiffOf(const Record& r, const std::vector<const Record*>&, archive::TarWriter* out,
                const archive::DiffOptions& options) override {
    return archive::WriteOverlayUpperDiff(FsDir(r.id), out, options);
  }

 private:
  std::vector<std::string> extra_options_;
};

}  // namespace

Result<std::unique_ptr<Snapshotter>> OpenOverlaySnapshotter(const std::string& root) {
  auto s = std::make_unique<OverlaySnapshotter>(root);
  HOIST_TRY(s->Init());
  return std::unique_ptr<Snapshotter>(std::move(s));
}

}  // namespace hoist::snapshot
