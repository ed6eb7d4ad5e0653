// File ops: chains of mkdir/mkfile/rm/symlink/copy actions on snapshots, and merge ops.
//
// A file op that is one copy, on a snapshotter that takes layer images, is first planned as a
// layer computed from its sources (copy_layer.h) and written straight into the layer's image;
// when the plan declines, the actions run on mounted snapshots as for every other file op.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <map>

#include <fmt/format.h>

#include "archive/erofs_writer.h"
#include "archive/layer.h"
#include "base/log.h"
#include "base/unique_fd.h"
#include "content/blob_sink.h"
#include "snapshot/diff_layer.h"
#include "solver/ops/copy_layer.h"
#include "solver/ops/file_actions.h"
#include "solver/ops/internal/tree_util.h"
#include "solver/ops/internal/ops.h"

namespace hoist::solver::ops::internal {
namespace {

std::optional<ChownOpt> Owner(const pb::ChownOpt* o, bool has) {
  if (!has || o == nullptr) return std::nullopt;
  auto user = [](const pb::UserOpt& u) -> std::optional<UserOpt> {
    if (u.has_byname()) return UserOpt{.name = u.byname().name()};
    if (u.user_case() == pb::UserOpt::kByID) return UserOpt{.id = u.byid()};
    return std::nullopt;
  };
  ChownOpt c;
  if (o->has_user()) c.user = user(o->user());
  if (o->has_group()) c.group = user(o->group());
  if (!c.user && !c.group) return std::nullopt;
  return c;
}

CopyAction CopyActionOf(const pb::FileActionCopy& c) {
  return CopyAction{.src = c.src(),
                    .dest = c.dest(),
                    .owner = Owner(&c.owner(), c.has_owner()),
                    .mode = c.mode(),
                    .mode_str = c.modestr(),
                    .follow_symlink = c.followsymlink(),
                    .dir_copy_contents = c.dircopycontents(),
                    .attempt_unpack_docker_compatibility = c.attemptunpackdockercompatibility(),
                    .create_dest_path = c.createdestpath(),
                    .allow_wildcard = c.allowwildcard(),
                    .allow_empty_wildcard = c.allowemptywildcard(),
                    .timestamp = c.timestamp(),
                    .include_patterns = {c.include_patterns().begin(), c.include_patterns().end()},
                    .exclude_patterns = {c.exclude_patterns().begin(), c.exclude_patterns().end()},
                    .always_replace_existing_dest_paths = c.alwaysreplaceexistingdestpaths()};
}

// A COPY's layer blob made from its tar stream while the stream is read for the layer's image:
// compressed with the exporters' default settings into the engine's store, as the export's
// diff of the finished snapshot would compress the same bytes. A failure here drops the blob
// only (the export then diffs the layer); the image is never held up by it.
class LayerBlobTee final : public archive::ByteSource {
 public:
  LayerBlobTee(archive::ByteSource& in, content::ContentStore& store, const std::string& ref)
      : in_(in) {
    auto blob = store.Writer(ref);
    if (!blob) return;
    blob_ = std::move(*blob);
    sink_ = std::make_unique<content::BlobSink>(blob_.get());
    auto layer = archive::LayerWriter::Create(sink_.get(), {.compression = kDefaultCompression});
    if (!layer) {
      Drop();
      return;
    }
    layer_ = std::move(*layer);
  }
  ~LayerBlobTee() override { Drop(); }

  Result<size_t> Read(void* buf, size_t n) override {
    HOIST_ASSIGN_OR_RETURN(size_t got, in_.Read(buf, n));
    if (got > 0 && layer_ && !layer_->Write(std::string_view(static_cast<const char*>(buf), got))) {
      Drop();
    }
    return got;
  }

  // The blob, committed, once the stream was read to its end; nullopt if it was dropped.
  std::optional<snapshot::DiffLayerResult> Finish() {
    // Whatever follows the end-of-archive marker (the reader may stop there) is the blob's too.
    char rest[4096];
    while (layer_) {
      auto n = Read(rest, sizeof(rest));
      if (!n) Drop();
      if (!n || *n == 0) break;
    }
    if (!layer_) return std::nullopt;
    auto committed = snapshot::CommitLayerBlob(*layer_, *blob_);
    Drop();
    if (!committed) return std::nullopt;
    return std::move(*committed);
  }

  static constexpr archive::CompressorOptions kDefaultCompression{};

 private:
  // The layer writer first: its worker thread writes into the blob.
  void Drop() {
    layer_.reset();
    blob_.reset();
  }

  archive::ByteSource& in_;
  std::unique_ptr<content::BlobWriter> blob_;
  std::unique_ptr<content::BlobSink> sink_;
  std::unique_ptr<archive::LayerWriter> layer_;
};

// The bytes of a planned layer's file bodies.
uint64_t LayerBytes(const CopyLayer& layer) {
  uint64_t total = 0;
  for (const CopyLayer::Entry& e : layer.entries()) total += static_cast<uint64_t>(e.header.size);
  return total;
}
constexpr uint64_t kReadAheadFrom = 4 << 20;

class FileOp final : public Op {
 public:
  FileOp(Worker& worker, oci::Digest digest, pb::Op op)
      : worker_(worker), digest_(std::move(digest)), op_(std::move(op)) {}

  Result<CacheMap> GetCacheMap(const OpContext&) override {
    CacheMap cm{.digest = digest_};
    cm.deps.resize(op_.inputs_size());
    // A copy depends only on the content of the paths it reads from its source input.
    std::map<int64_t, std::vector<const pb::FileActionCopy*>> copies;
    std::map<int64_t, bool> used_otherwise;
    for (const pb::FileAction& a : op_.file().actions()) {
      if (a.input() >= 0 && a.input() < op_.inputs_size()) used_otherwise[a.input()] = true;
      if (a.has_copy() && a.secondaryinput() >= 0 && a.secondaryinput() < op_.inputs_size()) {
        copies[a.secondaryinput()].push_back(&a.copy());
      }
    }
    for (const auto& [input, list] : copies) {
      if (used_otherwise[input]) continue;
      std::vector<std::string> paths;
      bool follow = true, wildcard = false;
      std::string selector;
      for (const pb::FileActionCopy* c : list) {
        paths.push_back(c->src());
        follow = follow && c->followsymlink();
        wildcard = wildcard || c->allowwildcard();
        selector += c->src() + "\n";
        for (const auto& p : c->include_patterns()) selector += "+" + p + "\n";
        for (const auto& p : c->exclude_patterns()) selector += "-" + p + "\n";
      }
      CacheMap::Dep& dep = cm.deps[input];
      dep.selector = DigestOf(selector);
      dep.compute_digest = [this, paths, follow, wildcard](const OpContext&,
                                                          const ResultRef& ref) {
        return ChecksumPaths(worker_, ref, paths, follow, wildcard);
      };
    }
    return cm;
  }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>& inputs) override {
    HOIST_ASSIGN_OR_RETURN(auto direct, RunCopyLayer(ctx, inputs));
    if (direct) return std::move(*direct);
    // The new layers are held in memory where the snapshotter can (and written once, as
    // images); one too big for that is done again on disk.
    auto results = Run(ctx, inputs, /*in_memory=*/true);
    if (results || results.error().code() != Code::kResourceExhausted) return results;
    HOIST_LOG(kInfo, "file op {}: {}; running it again on disk", digest_.str(),
              results.error().message());
    return Run(ctx, inputs, /*in_memory=*/false);
  }

 private:
  // One copy onto an input (or scratch), as a layer image written from its sources; nullopt
  // when the op is not that or the plan declines.
  Result<std::optional<std::vector<ResultRef>>> RunCopyLayer(
      const OpContext& ctx, const std::vector<ResultRef>& inputs) {
    const auto& actions = op_.file().actions();
    const int64_t n = static_cast<int64_t>(inputs.size());
    snapshot::Snapshotter& snapshots = *worker_.options().snapshotter;
    if (!snapshots.TakesLayerImages() || actions.size() != 1 || !actions[0].has_copy()) {
      return std::nullopt;
    }
    const pb::FileAction& a = actions[0];
    if (a.output() != 0 || a.input() < -1 || a.input() >= n || a.secondaryinput() < 0 ||
        a.secondaryinput() >= n) {
      return std::nullopt;
    }
    const std::string parent = a.input() >= 0 ? inputs[a.input()].id() : "";
    if (IsMirrorId(parent)) return std::nullopt;
    const std::string& state = worker_.options().state_dir;
    HOIST_ASSIGN_OR_RETURN(auto dest_view, MountedSnapshot::Create(snapshots, parent, false, state));
    HOIST_ASSIGN_OR_RETURN(auto src_view,
                           MountedSnapshot::Create(snapshots, inputs[a.secondaryinput()].id(),
                                                   false, state));
    const auto t0 = std::chrono::steady_clock::now();
    std::string why;
    // A context read in place is checked as the copy through the overlay checks it.
    std::shared_ptr<source::InPlaceContext> in_place;
    if (IsInPlaceId(inputs[a.secondaryinput()].id())) in_place = FindInPlace(inputs[a.secondaryinput()].id());
    auto layer = CopyLayer::Plan(src_view->path(), dest_view->path(), CopyActionOf(a.copy()),
                                 {.cancel = ctx.cancel.get(), .in_place = in_place.get()}, &why);
    if (!layer) {
      HOIST_LOG(kDebug, "file op {}: copying through a mount: {}", digest_.str(), why);
      return std::nullopt;
    }
    const auto t1 = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point t2;
    std::optional<snapshot::DiffLayerResult> blob;
    auto committed = CommitLayerImage(snapshots, parent, "file", [&](int image) -> Status {
      auto stream = layer->Stream();
      // A large layer is read from its sources on a thread of its own, ahead of the image's
      // writer; a small one is not worth the thread and the buffers.
      archive::ByteSource* tar = stream.get();
      std::optional<archive::ReadAheadByteSource> ahead;
      if (LayerBytes(*layer) >= kReadAheadFrom) tar = &ahead.emplace(stream.get());
      std::optional<LayerBlobTee> tee;
      if (!worker_.options().diff_cache_dir.empty()) {
        tee.emplace(*tar, *worker_.options().content, "copy-layer-" + NewSnapshotKey("blob"));
      }
      archive::ByteSource& source = tee ? static_cast<archive::ByteSource&>(*tee) : *tar;
      Status s = archive::WriteLayerErofs(source, image, {.cancel = ctx.cancel.get()})
                     .map([](auto&&) {});
      if (s && tee) blob = tee->Finish();
      t2 = std::chrono::steady_clock::now();
      return s;
    });
    if (!committed) {
      if (layer->declined()) {
        HOIST_LOG(kDebug, "file op {}: copying through a mount: {}", digest_.str(),
                  committed.error().message());
        return std::nullopt;
      }
      return Unexpected(std::move(committed).error().Wrap("write the copy's layer"));
    }
    const std::string& name = *committed;
    if (blob) {
      snapshot::SaveCachedDiff(snapshot::DiffCacheFile(worker_.options().diff_cache_dir, name,
                                                       LayerBlobTee::kDefaultCompression,
                                                       std::nullopt),
                               *blob);
    }
    auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
    HOIST_LOG(kDebug,
              "file op {}: layer written from its sources ({} entries; planned in {} ms, image "
              "written in {} ms, synced and committed in {} ms)",
              digest_.str(), layer->entries().size(), ms(t1 - t0), ms(t2 - t1),
              ms(std::chrono::steady_clock::now() - t2));
    return std::vector<ResultRef>{worker_.Ref(name)};
  }

  Result<std::vector<ResultRef>> Run(const OpContext& ctx, const std::vector<ResultRef>& inputs,
                                     bool in_memory) {
    const auto& actions = op_.file().actions();
    const int64_t n = static_cast<int64_t>(inputs.size());
    snapshot::Snapshotter& snapshots = *worker_.options().snapshotter;
    const std::string& state = worker_.options().state_dir;
    // How many later actions build on each action's result.
    std::vector<int> consumers(actions.size(), 0);
    for (const pb::FileAction& a : actions) {
      if (a.input() >= n) ++consumers[a.input() - n];
    }
    std::vector<std::unique_ptr<MountedSnapshot>> active(actions.size());
    std::vector<std::string> committed(actions.size());
    std::map<int64_t, std::unique_ptr<MountedSnapshot>> views;
    int outputs = 0;
    for (const pb::FileAction& a : actions) outputs = std::max<int>(outputs, a.output() + 1);
    std::vector<ResultRef> results(outputs);

    FileActionOptions options;
    options.cancel = ctx.cancel.get();
    for (int i = 0; i < actions.size(); ++i) {
      const pb::FileAction& a = actions[i];
      // The tree this action changes: a fresh snapshot of an input, or the one a previous
      // action left, continued in place when nothing else needs that result as it was.
      std::unique_ptr<MountedSnapshot> dest;
      if (a.input() >= n) {
        const int64_t j = a.input() - n;
        if (j >= i) return MakeError(Code::kInvalidArgument, BadIndex(i));
        if (active[j] && consumers[j] == 1 && actions[j].output() < 0) {
          dest = std::move(active[j]);
        } else {
          HOIST_ASSIGN_OR_RETURN(std::string parent, CommitAction(j, active, committed));
          HOIST_ASSIGN_OR_RETURN(dest,
                                 MountedSnapshot::Create(snapshots, parent, true, state, in_memory));
        }
      } else {
        std::string parent = a.input() >= 0 ? inputs[a.input()].id() : "";
        HOIST_ASSIGN_OR_RETURN(dest,
                               MountedSnapshot::Create(snapshots, parent, true, state, in_memory));
      }
      switch (a.action_case()) {
        case pb::FileAction::kMkdir: {
          const auto& m = a.mkdir();
          HOIST_TRY(ApplyMkdir(dest->path(),
                               MkdirAction{.path = m.path(),
                                           .mode = static_cast<uint32_t>(m.mode()),
                                           .make_parents = m.makeparents(),
                                           .owner = Owner(&m.owner(), m.has_owner()),
                                           .timestamp = m.timestamp()},
                               options));
          break;
        }
        case pb::FileAction::kMkfile: {
          const auto& m = a.mkfile();
          HOIST_TRY(ApplyMkfile(dest->path(),
                                MkfileAction{.path = m.path(),
                                             .mode = static_cast<uint32_t>(m.mode()),
                                             .data = m.data(),
                                             .owner = Owner(&m.owner(), m.has_owner()),
                                             .timestamp = m.timestamp()},
                                options));
          break;
        }
        case pb::FileAction::kRm: {
          const auto& r = a.rm();
          HOIST_TRY(ApplyRm(dest->path(),
                            RmAction{.path = r.path(),
                                     .allow_not_found = r.allownotfound(),
                                     .allow_wildcard = r.allowwildcard()},
                            options));
          break;
        }
        case pb::FileAction::kSymlink: {
          const auto& s = a.symlink();
          HOIST_TRY(ApplySymlink(dest->path(),
                                 SymlinkAction{.oldpath = s.oldpath(),
                                               .newpath = s.newpath(),
                                               .owner = Owner(&s.owner(), s.has_owner()),
                                               .timestamp = s.timestamp()},
                                 options));
          break;
        }
        case pb::FileAction::kCopy: {
          const auto& c = a.copy();
          std::string src_root;
          std::shared_ptr<source::InPlaceContext> in_place;
          if (a.secondaryinput() >= n) {
            const int64_t j = a.secondaryinput() - n;
            if (j >= i) return MakeError(Code::kInvalidArgument, BadIndex(i));
            HOIST_ASSIGN_OR_RETURN(std::string name, CommitAction(j, active, committed));
            HOIST_ASSIGN_OR_RETURN(src_root, ViewPath(-1 - j, name, views));
          } else if (a.secondaryinput() >= 0) {
            HOIST_ASSIGN_OR_RETURN(src_root, ViewPath(a.secondaryinput(),
                                                      inputs[a.secondaryinput()].id(), views));
          } else {
            HOIST_ASSIGN_OR_RETURN(src_root, ViewPath(-1000000, "", views));
          }
          FileActionOptions copy_options = options;
          if (a.secondaryinput() >= 0 && a.secondaryinput() < n &&
              IsInPlaceId(inputs[a.secondaryinput()].id())) {
            in_place = FindInPlace(inputs[a.secondaryinput()].id());
            copy_options.in_place_source = in_place.get();
          }
          HOIST_TRY(ApplyCopy(src_root, dest->path(), CopyActionOf(c), copy_options));
          break;
        }
        default:
          return MakeError(Code::kInvalidArgument,
                           fmt::format("file op {}: action {} is empty", digest_.str(), i));
      }
      active[i] = std::move(dest);
      if (a.output() >= 0) {
        HOIST_ASSIGN_OR_RETURN(std::string name, CommitAction(i, active, committed));
        results[a.output()] = worker_.Ref(name);
      }
    }
    for (ResultRef& r : results) {
      if (r.empty()) {
        HOIST_ASSIGN_OR_RETURN(r, worker_.EmptyRef());
      }
    }
    return results;
  }

  std::string BadIndex(int i) const {
    return fmt::format("file op {}: action {} refers to a later action", digest_.str(), i);
  }

  // Commits action j's tree (once) and returns its snapshot name.
  Result<std::string> CommitAction(int64_t j, std::vector<std::unique_ptr<MountedSnapshot>>& active,
                                   std::vector<std::string>& committed) {
    if (!committed[j].empty()) return committed[j];
    if (!active[j]) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("file op {}: the result of action {} was used twice",
                                   digest_.str(), j));
    }
    const std::string name = NewSnapshotKey("file");
    HOIST_TRY(active[j]->Commit(name));
    active[j].reset();
    committed[j] = name;
    return name;
  }

  Result<std::string> ViewPath(int64_t slot, const std::string& parent,
                               std::map<int64_t, std::unique_ptr<MountedSnapshot>>& views) {
    auto it = views.find(slot);
    if (it != views.end()) return it->second->path();
    HOIST_ASSIGN_OR_RETURN(auto view, MountedSnapshot::Create(*worker_.options().snapshotter,
                                                              parent, false,
                                                              worker_.options().state_dir));
    std::string path = view->path();
    views.emplace(slot, std::move(view));
    return path;
  }

  Worker& worker_;
  oci::Digest digest_;
  pb::Op op_;
};

class MergeOp final : public Op {
 public:
  MergeOp(Worker& worker, oci::Digest digest, pb::Op op)
      : worker_(worker), digest_(std::move(digest)), op_(std::move(op)) {}

  Result<CacheMap> GetCacheMap(const OpContext&) override { return CacheMap{.digest = digest_}; }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>& inputs) override {
    const auto& merge = op_.merge().inputs();
    if (merge.empty()) {
      HOIST_ASSIGN_OR_RETURN(ResultRef empty, worker_.EmptyRef());
      return std::vector<ResultRef>{empty};
    }
    auto input = [&](int k) -> Result<std::string> {
      const int64_t i = merge[k].input();
      if (i < 0 || static_cast<size_t>(i) >= inputs.size()) {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("merge op {}: input {} out of range", digest_.str(), i));
      }
      return inputs[i].id();
    };
    HOIST_ASSIGN_OR_RETURN(std::string base, input(0));
    if (merge.size() == 1) return std::vector<ResultRef>{worker_.Ref(base)};
    snapshot::Snapshotter& snapshots = *worker_.options().snapshotter;
    HOIST_ASSIGN_OR_RETURN(auto dest, MountedSnapshot::Create(snapshots, base, true,
                                                              worker_.options().state_dir));
    for (int k = 1; k < merge.size(); ++k) {
      HOIST_ASSIGN_OR_RETURN(std::string layer, input(k));
      HOIST_ASSIGN_OR_RETURN(auto view, MountedSnapshot::Create(snapshots, layer, false,
                                                                worker_.options().state_dir));
      HOIST_TRY(CopyTree(view->path(), dest->path(), ctx.cancel.get(), FindInPlace(layer).get()));
    }
    const std::string name = NewSnapshotKey("merge");
    HOIST_TRY(dest->Commit(name));
    return std::vector<ResultRef>{worker_.Ref(name)};
  }

 private:
  Worker& worker_;
  oci::Digest digest_;
  pb::Op op_;
};

}  // namespace

Result<std::unique_ptr<Op>> MakeFileOp(Worker& worker, const oci::Digest& digest,
                                       const pb::Op& op, const llb::OpMetadata&) {
  return std::make_unique<FileOp>(worker, digest, op);
}

Result<std::unique_ptr<Op>> MakeMergeOp(Worker& worker, const oci::Digest& digest,
                                        const pb::Op& op, const llb::OpMetadata&) {
  return std::make_unique<MergeOp>(worker, digest, op);
}

}  // namespace hoist::solver::ops::internal
