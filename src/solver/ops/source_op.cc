// Source ops: oci-layout (a client's OCI store through the session), local (a client dir),
// and the schemes hoist refuses with a message saying what to use instead.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/hash.h"
#include "base/file_system.h"
#include "base/log.h"
#include "base/temp_dir.h"
#include "content/content_store.h"
#include "llb/caps.h"
#include "session/session.h"
#include "session/ssh_forward.h"
#include "solver/ops/context_snapshot.h"
#include "solver/ops/internal/ops.h"
#include "solver/ops/internal/tree_util.h"
#include "source/docker_image_source.h"
#include "source/git_source.h"
#include "source/in_place_context.h"
#include "source/local_source.h"
#include "source/http_source.h"
#include "source/oci_layout_source.h"

namespace hoist::solver::ops::internal {
namespace {

using progress::VertexStatus;

std::map<std::string, std::string> Attrs(const pb::SourceOp& src) {
  return {src.attrs().begin(), src.attrs().end()};
}

// Sends byte-count updates for one blob at most every 100 ms, and a final one.
class BlobProgress {
 public:
  BlobProgress(const progress::VertexProgress& p, const oci::Descriptor& d)
      : progress_(p), status_{.id = d.digest.str(), .name = d.digest.str(), .total = d.size} {
    status_.started = progress::Clock::now();
    progress_.Status(status_);
  }
  void Add(int64_t n) { Set(status_.current + n); }
  void Set(int64_t current) {
    status_.current = current;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ > std::chrono::milliseconds(100)) {
      last_ = now;
      progress_.Status(status_);
    }
  }
  void Done() {
    status_.completed = progress::Clock::now();
    progress_.Status(status_);
  }

 private:
  const progress::VertexProgress& progress_;
  VertexStatus status_;
  std::chrono::steady_clock::time_point last_{};
};

// Unpacks the first `count` layers of an image (already in the engine's store) once per chain
// ID, showing an `extracting` row for each layer it applies; returns the top chain's snapshot.
Result<std::string> UnpackLayers(Worker& worker, const OpContext& ctx,
                                 const source::SourceImage& image, size_t count,
                                 CancelContext* cancel) {
  snapshot::EnsureLayersOptions opts;
  opts.cancel = cancel;
  opts.on_layer = [&](size_t, const oci::Descriptor& d, const archive::ApplyStats&) {
    VertexStatus s{.id = "extracting " + d.digest.str(), .name = "extracting " + d.digest.str()};
    s.started = s.completed = progress::Clock::now();
    ctx.progress.Status(s);
  };
  const std::vector<oci::Descriptor> layers(image.layers.begin(), image.layers.begin() + count);
  const std::vector<oci::Digest> diff_ids(image.diff_ids.begin(), image.diff_ids.begin() + count);
  return worker.options().layers->EnsureLayers(layers, diff_ids, opts);
}

// A source's cache key and pin (its image's root digest) from an earlier resolve.
struct KnownSourceKey {
  oci::Digest key;
  std::string pin;
};

// An image source (oci-layout, docker-image): resolving gives the cache key and shows a
// `resolve <ref>` row; running brings the layers into the engine's store (the exporter then
// re-uses them as the same blobs) and unpacks them once per chain ID.
class ImageSourceOp : public Op {
 public:
  explicit ImageSourceOp(Worker& worker) : worker_(worker) {}

  Result<CacheMap> GetCacheMap(const OpContext& ctx) override {
    if (auto known = KnownKey()) {
      std::lock_guard lock(mu_);
      if (image_ == nullptr) {
        known_pin_ = known->pin;
        return CacheMap{.digest = known->key};
      }
    }
    HOIST_TRY(EnsureResolved(ctx));
    return CacheMap{.digest = cache_key_};
  }

  std::string Pin() const override {
    std::lock_guard lock(mu_);
    return image_ == nullptr ? known_pin_ : image_->root.digest.str();
  }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>&) override {
    HOIST_TRY(EnsureResolved(ctx));
    // The resolve row, again now that the step is shown (it ran before the step started).
    if (resolved_) ctx.progress.Status(*resolved_);
    if (image_->layers.empty()) {
      HOIST_ASSIGN_OR_RETURN(ResultRef empty, worker_.EmptyRef());
      return std::vector<ResultRef>{empty};
    }
    HOIST_ASSIGN_OR_RETURN(std::string top, FetchAndUnpack(ctx, *image_));
    return std::vector<ResultRef>{worker_.Ref(top)};
  }

 protected:
  // A key this op had when it was resolved before and cannot be resolved now (oci-layout, below).
  virtual std::optional<KnownSourceKey> KnownKey() const { return std::nullopt; }
  // The reference the resolve row names.
  virtual std::string RowName() const = 0;
  // Resolves; returns the image (owned by the subclass, alive as long as it) and its cache key.
  virtual Result<std::pair<const source::SourceImage*, oci::Digest>> Resolve(
      const OpContext& ctx) = 0;
  // Makes every layer blob present in the engine's store, with byte-count rows, calling
  // `arrived(i)` as layer i's blob becomes present (from any thread, in any order).
  virtual Status FetchLayers(const OpContext& ctx, const source::SourceImage& image,
                             const std::function<void(size_t)>& arrived,
                             CancelContext* cancel) = 0;

  Worker& worker_;

 private:
  // Layers are unpacked in order as their blobs arrive, while later ones are still coming:
  // the fetch runs on a thread of its own, the unpacking here.
  Result<std::string> FetchAndUnpack(const OpContext& ctx, const source::SourceImage& image) {
    const size_t n = image.layers.size();
    std::shared_ptr<CancelContext> cancel =
        ctx.cancel ? ctx.cancel->Child() : CancelContext::Background();
    std::mutex mu;
    std::condition_variable cv;
    std::vector<bool> present(n, false);
    bool fetch_done = false;
    Status fetched;
    std::thread fetcher([&] {
      Status st = FetchLayers(
          ctx, image,
          [&](size_t i) {
            std::lock_guard lock(mu);
            present.at(i) = true;
            cv.notify_all();
          },
          cancel.get());
      std::lock_guard lock(mu);
      fetched = std::move(st);
      fetch_done = true;
      cv.notify_all();
    });
    Result<std::string> top = std::string();
    for (size_t i = 0; i < n; ++i) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return present[i] || fetch_done; });
        if (!present[i]) break;  // the fetch failed; its error is returned below
      }
      top = UnpackLayers(worker_, ctx, image, i + 1, cancel.get());
      if (!top) {
        cancel->Cancel("context canceled");
        break;
      }
    }
    fetcher.join();
    if (!top) return top;  // the unpack's own error, not the fetch's cancellation
    HOIST_TRY(fetched);
    return top;
  }

  Status EnsureResolved(const OpContext& ctx) {
    std::lock_guard lock(mu_);
    if (image_ != nullptr) return OkStatus();
    const std::string resolve_id = "resolve " + RowName();
    VertexStatus s{.id = resolve_id, .name = resolve_id};
    s.started = progress::Clock::now();
    ctx.progress.Status(s);
    HOIST_ASSIGN_OR_RETURN(auto resolved, Resolve(ctx));
    std::tie(image_, cache_key_) = resolved;
    s.completed = progress::Clock::now();
    ctx.progress.Status(s);
    resolved_ = s;
    return OkStatus();
  }

  mutable std::mutex mu_;
  const source::SourceImage* image_ = nullptr;
  oci::Digest cache_key_;
  std::string known_pin_;
  std::optional<VertexStatus> resolved_;
};

// Keys of oci-layout sources resolved through the session their op names, by everything the op
// names (session, store, digest, platform, layer limit). buildx builds a bake target's
// `target:` context in a session of its own, which ends with that build, and sends its
// definition to the target built on it: the key the source had is what finds the steps cached
// on it there (as BuildKit finds them in its solver's state). Running the source again still
// needs its session. A key is kept for ten minutes after its resolve (a bake's builds follow one
// another at once), and the whole is emptied when full.
class ResolvedLayoutKeys {
 public:
  static ResolvedLayoutKeys& Get() {
    static ResolvedLayoutKeys* keys = new ResolvedLayoutKeys();
    return *keys;
  }
  void Put(const std::string& what, KnownSourceKey known) {
    std::lock_guard lock(mu_);
    if (keys_.size() >= 4096) keys_.clear();
    keys_[what] = {std::move(known), std::chrono::steady_clock::now()};
  }
  std::optional<KnownSourceKey> Find(const std::string& what) const {
    std::lock_guard lock(mu_);
    auto it = keys_.find(what);
    if (it == keys_.end() ||
        std::chrono::steady_clock::now() - it->second.resolved > std::chrono::minutes(10)) {
      return std::nullopt;
    }
    return it->second.known;
  }

 private:
  struct Known {
    KnownSourceKey known;
    std::chrono::steady_clock::time_point resolved;
  };
  mutable std::mutex mu_;
  std::map<std::string, Known> keys_;
};

class OciLayoutSourceOp final : public ImageSourceOp {
 public:
  OciLayoutSourceOp(Worker& worker, source::OciLayoutIdentifier id)
      : ImageSourceOp(worker), id_(std::move(id)) {}

  std::string Name() const override { return "oci-layout://" + id_.ref; }

 private:
  std::string RowName() const override { return id_.reference.String(); }

  // What names this op's source exactly; empty when the op names no session (any of the
  // build's own then serves it).
  std::string What() const {
    if (id_.session_id.empty()) return "";
    return fmt::format("{}\n{}\n{}\n{}\n{}", id_.session_id, id_.store_id, id_.digest().str(),
                       oci::FormatPlatform(id_.platform), id_.layer_limit.value_or(-1));
  }

  // The key from before, once the session the op names has ended.
  std::optional<KnownSourceKey> KnownKey() const override {
    const std::string what = What();
    if (what.empty()) return std::nullopt;
    auto known = ResolvedLayoutKeys::Get().Find(what);
    if (!known) return std::nullopt;
    if (worker_.options().sessions->Get(id_.session_id, std::chrono::milliseconds(0))) {
      return std::nullopt;  // it is there: resolved through it, as always
    }
    return known;
  }

  Result<std::pair<const source::SourceImage*, oci::Digest>> Resolve(
      const OpContext& ctx) override {
    source::SessionStores stores(worker_.options().sessions, worker_.options().session_ids);
    HOIST_ASSIGN_OR_RETURN(instance_, source::OciLayoutSourceInstance::Resolve(
                                          id_, stores, ctx.cancel.get()));
    if (const std::string what = What(); !what.empty()) {
      ResolvedLayoutKeys::Get().Put(what, {.key = instance_->ManifestCacheKey(),
                                           .pin = instance_->image().root.digest.str()});
    }
    return std::make_pair(&instance_->image(), instance_->ManifestCacheKey());
  }

  Status FetchLayers(const OpContext& ctx, const source::SourceImage& image,
                     const std::function<void(size_t)>& arrived, CancelContext* cancel) override {
    // Layers come into the engine's store first: the exporter re-uses them as the same blobs,
    // and the store verifies each while it streams in (hashing it once, as it writes).
    content::ContentStore& engine = *worker_.options().content;
    for (const oci::Descriptor& layer : image.layers) {
      const size_t i = static_cast<size_t>(&layer - image.layers.data());
      if (cancel->cancelled()) return MakeError(Code::kCancelled, "context canceled");
      if (engine.Info(layer.digest)) {
        arrived(i);
        continue;
      }
      // Another build may be fetching the same blob: wait for it rather than fail.
      HOIST_ASSIGN_OR_RETURN(auto writer,
                             content::WriterOrWait(engine, layer.digest.str(), layer.digest, cancel));
      if (!writer) {
        arrived(i);
        continue;
      }
      BlobProgress bp(ctx.progress, layer);
      Status st = instance_->CopyLayer(i, *writer, [&](int64_t n) { bp.Add(n); }, cancel);
      if (!st && st.error().code() != Code::kAlreadyExists) return Unexpected(std::move(st).error());
      bp.Done();
      arrived(i);
    }
    return OkStatus();
  }

  source::OciLayoutIdentifier id_;
  std::unique_ptr<source::OciLayoutSourceInstance> instance_;
};

// Adapts a session's client dir to what the local syncer reads.
class ClientDirReader final : public source::ContextReader {
 public:
  explicit ClientDirReader(std::shared_ptr<session::ClientDir> dir) : dir_(std::move(dir)) {}

  Status Walk(const source::ContextFilter& filter,
              const std::function<Status(const source::ContextEntry&)>& fn) override {
    session::WalkOptions options{.include_patterns = filter.include_patterns,
                                 .exclude_patterns = filter.exclude_patterns,
                                 .follow_paths = filter.follow_paths};
    return dir_->Walk(options, [&](const session::FileEntry& e) {
      return fn(source::ContextEntryOf(e));
    });
  }

  // Streams: a remote directory sends the file on the transfer of the walk just made.
  Status ReadFile(std::string_view path,
                  const std::function<Status(std::string_view chunk)>& sink) override {
    return dir_->ReadFile(path, sink);
  }
  void Prefetch(const std::vector<std::string>& paths) override { dir_->Prefetch(paths); }
  bool ReadsAhead() const override { return dir_->ReadsAhead(); }

 private:
  std::shared_ptr<session::ClientDir> dir_;
};

Result<std::vector<std::string>> JsonList(const std::map<std::string, std::string>& attrs,
                                          std::string_view key) {
  auto it = attrs.find(std::string(key));
  if (it == attrs.end() || it->second.empty()) return std::vector<std::string>{};
  auto j = nlohmann::json::parse(it->second, nullptr, false);
  if (!j.is_array()) {
    return MakeError(Code::kInvalidArgument, fmt::format("local source: attr {} is not a JSON list", key));
  }
  std::vector<std::string> out;
  for (const auto& v : j) {
    if (!v.is_string()) {
      return MakeError(Code::kInvalidArgument, fmt::format("local source: attr {} is not a JSON list of strings", key));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

// docker-image://REF: pulled from a registry. Resolving reads only metadata; layers are
// fetched when the step runs, several at once.
class DockerImageSourceOp final : public ImageSourceOp {
 public:
  DockerImageSourceOp(Worker& worker, source::DockerImageIdentifier id)
      : ImageSourceOp(worker), id_(std::move(id)) {}

  std::string Name() const override { return "docker-image://" + id_.reference.String(); }

 private:
  std::string RowName() const override { return id_.reference.String(); }

  Result<std::pair<const source::SourceImage*, oci::Digest>> Resolve(
      const OpContext& ctx) override {
    if (worker_.options().registry == nullptr) {
      return MakeError(Code::kFailedPrecondition,
                       id_.reference.String() + ": this engine has no registry client");
    }
    source::DockerImageEnv env{.client = worker_.options().registry,
                               .content = worker_.options().content,
                               .names = worker_.options().image_names};
    HOIST_ASSIGN_OR_RETURN(instance_,
                           source::DockerImageSourceInstance::Resolve(id_, env, ctx.cancel.get()));
    return std::make_pair(&instance_->image(), instance_->ManifestCacheKey());
  }

  Status FetchLayers(const OpContext& ctx, const source::SourceImage& image,
                     const std::function<void(size_t)>& arrived, CancelContext* cancel) override {
    std::mutex mu;
    std::map<oci::Digest, std::unique_ptr<BlobProgress>> rows;
    return instance_->FetchLayers(
        [&](const registry::BlobEvent& e) {
          {
            std::lock_guard lock(mu);
            auto& row = rows[e.desc.digest];
            if (!row) row = std::make_unique<BlobProgress>(ctx.progress, e.desc);
            row->Set(e.done);
            if (e.finished) row->Done();
          }
          if (!e.finished) return;
          // Every layer with this digest (an image may repeat one) has arrived.
          for (size_t i = 0; i < image.layers.size(); ++i) {
            if (image.layers[i].digest == e.desc.digest) arrived(i);
          }
        },
        cancel);
  }

  source::DockerImageIdentifier id_;
  std::unique_ptr<source::DockerImageSourceInstance> instance_;
};

class LocalSourceOp final : public Op {
 public:
  LocalSourceOp(Worker& worker, std::string name, std::map<std::string, std::string> attrs)
      : worker_(worker), name_(std::move(name)), attrs_(std::move(attrs)) {}

  Result<CacheMap> GetCacheMap(const OpContext& ctx) override {
    HOIST_TRY(EnsureSession(ctx));
    // A local source is read afresh by every build (the key names the session, as BuildKit's
    // does); what follows it is cached on the content it actually uses.
    std::string key = fmt::format("local\n{}\n{}\n", session_->id(), name_);
    for (const auto& [k, v] : attrs_) key += k + "=" + v + "\n";
    return CacheMap{.digest = DigestOf(key)};
  }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>&) override {
    HOIST_TRY(EnsureSession(ctx));
    HOIST_ASSIGN_OR_RETURN(auto dir, session_->LocalDir(name_));
    source::SyncOptions options;
    HOIST_ASSIGN_OR_RETURN(options.filter.include_patterns, JsonList(attrs_, llb::kAttrIncludePatterns));
    HOIST_ASSIGN_OR_RETURN(options.filter.exclude_patterns, JsonList(attrs_, llb::kAttrExcludePatterns));
    HOIST_ASSIGN_OR_RETURN(options.filter.follow_paths, JsonList(attrs_, llb::kAttrFollowPaths));
    std::string hint = attrs_.contains(std::string(llb::kAttrSharedKeyHint))
                           ? attrs_.at(std::string(llb::kAttrSharedKeyHint))
                           : name_;
    const std::string shared = session_->shared_key().empty() ? session_->id() : session_->shared_key();
    ClientDirReader reader(dir);
    VertexStatus s{.id = "transferring " + name_, .name = "transferring " + name_ + ":"};
    // A directory on the engine's own disk is read where it is: nothing is written.
    if (UniqueFd root = dir->OpenInPlace()) {
      s.started = progress::Clock::now();
      ctx.progress.Status(s);
      source::InPlaceOptions in_place{
          .name = name_,
          .scope = std::string(kInPlaceIdPrefix) +
                   std::string(DigestOf(shared + "\n" + hint).encoded().substr(0, 32)),
          .state_dir = worker_.options().state_dir,
          .filter = options.filter};
      auto context = source::InPlaceContext::Create(reader, std::move(root), std::move(in_place));
      if (context) {
        const std::string id = std::string(kInPlaceIdPrefix) + session::NewRandomId();
        worker_.AdoptInPlace(id, std::shared_ptr<source::InPlaceContext>(std::move(*context)));
        s.completed = progress::Clock::now();
        ctx.progress.Status(s);
        return std::vector<ResultRef>{worker_.Ref(id)};
      }
      if (context.error().code() != Code::kUnavailable) return Unexpected(std::move(context).error());
      HOIST_LOG(kInfo, "local {}: {}; mirroring it instead", name_, context.error().message());
    }
    // The mirror persists across builds of the same client and context, so a rebuild reads
    // only the files that changed. One mirror per client (its shared key) and context; a
    // build running meanwhile on the same one (hoistd serves many clients) leaves it alone and
    // this build syncs a mirror of its own session instead, as BuildKit does with a context
    // ref in use.
    auto mirror_id = [&](const std::string& key) {
      return std::string(kMirrorPrefix) +
             std::string(DigestOf(key + "\n" + hint).encoded().substr(0, 32));
    };
    HOIST_ASSIGN_OR_RETURN(const std::string id,
                           worker_.LeaseMirror(mirror_id(shared),
                                               mirror_id(shared + "\n" + session_->id())));
    const std::string mirror = MirrorPath(worker_.options().state_dir, id);
    std::lock_guard lock(MirrorLock(mirror));
    HOIST_TRY(PosixFileSystem()->MakeDirs(worker_.options().state_dir + "/local", 0700));
    s.started = progress::Clock::now();
    ctx.progress.Status(s);
    // Where layers are images, so is the mirror: a snapshot whose files are never created
    // (context_snapshot.h), its current generation named in `<mirror>.snapshot`.
    snapshot::Snapshotter& snapshots = *worker_.options().snapshotter;
    if (snapshots.TakesLayerImages()) {
      ContextSnapshotStats stats;
      HOIST_ASSIGN_OR_RETURN(
          std::string name,
          SyncContextSnapshot(snapshots, worker_.options().state_dir, reader, options.filter,
                              mirror + std::string(kMirrorSnapshotSuffix), ctx.cancel.get(),
                              &stats));
      s.current = static_cast<int64_t>(stats.bytes_read);
      s.completed = progress::Clock::now();
      ctx.progress.Status(s);
      return std::vector<ResultRef>{worker_.Ref(name)};
    }
    HOIST_ASSIGN_OR_RETURN(source::SyncStats stats, source::LocalSync(reader, mirror, options));
    s.current = static_cast<int64_t>(stats.bytes_read);
    s.completed = progress::Clock::now();
    ctx.progress.Status(s);
    // The mirror itself is the result: the ops after this one read it through read-only
    // views, and their cache keys come from the content they read, not from this result.
    return std::vector<ResultRef>{worker_.Ref(id)};
  }

  std::string Name() const override { return "local://" + name_; }

 private:
  Status EnsureSession(const OpContext& ctx) {
    std::lock_guard lock(mu_);
    if (session_) return OkStatus();
    std::string id;
    if (auto it = attrs_.find(std::string(llb::kAttrLocalSessionID)); it != attrs_.end()) {
      id = it->second;
    }
    session::SessionManager& sessions = *worker_.options().sessions;
    if (!id.empty()) {
      // A build reads only its own clients' directories: LLB naming another build's session
      // (hoistd serves many clients) is refused, whatever that session holds.
      const auto& own = worker_.options().session_ids;
      if (std::find(own.begin(), own.end(), id) == own.end()) {
        return MakeError(Code::kPermissionDenied,
                         fmt::format("local://{}: session {} is not a session of this build", name_, id));
      }
      HOIST_ASSIGN_OR_RETURN(session_, sessions.Get(id, session::kDefaultSessionTimeout,
                                                    ctx.cancel.get()));
      return OkStatus();
    }
    return sessions.Any(
        worker_.options().session_ids,
        [&](session::Session& s) -> Status {
          // Over a remote session only a transfer tells whether the client has the
          // directory: one that sends nothing.
          HOIST_ASSIGN_OR_RETURN(auto dir, s.LocalDir(name_));
          HOIST_TRY(dir->Walk({.exclude_patterns = {"*"}},
                              [](const session::FileEntry&) { return OkStatus(); }));
          HOIST_ASSIGN_OR_RETURN(session_, sessions.Get(s.id(), session::kDefaultSessionTimeout));
          return OkStatus();
        },
        session::kDefaultSessionTimeout, ctx.cancel.get());
  }

  static std::mutex& MirrorLock(const std::string& mirror) {
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<std::mutex>> locks;
    std::lock_guard lock(mu);
    auto& m = locks[mirror];
    if (!m) m = std::make_unique<std::mutex>();
    return *m;
  }

  Worker& worker_;
  std::string name_;
  std::map<std::string, std::string> attrs_;
  std::mutex mu_;
  std::shared_ptr<session::Session> session_;
};

// A file downloaded over http(s) (ADD https://...). With a checksum the cache key is known
// without downloading; otherwise the file is fetched first and keyed by its content.
class HttpSourceOp final : public Op {
 public:
  HttpSourceOp(Worker& worker, std::string url, std::map<std::string, std::string> attrs)
      : worker_(worker), url_(std::move(url)), attrs_(std::move(attrs)) {}

  Result<CacheMap> GetCacheMap(const OpContext& ctx) override {
    std::string key = "http\n" + url_ + "\n";
    for (const auto& [k, v] : attrs_) key += k + "=" + v + "\n";
    if (Attr("http.checksum").empty()) {
      HOIST_TRY(EnsureFetched(ctx));
      key += "content=" + fetched_->digest.str() + "\n";
    }
    return CacheMap{.digest = DigestOf(key)};
  }

  std::string Pin() const override {
    std::lock_guard lock(mu_);
    if (auto c = Attr("http.checksum"); !c.empty()) return c;
    return pin_;
  }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>&) override {
    HOIST_TRY(EnsureFetched(ctx));
    std::string filename = Attr("http.filename");
    if (filename.empty()) filename = "__unnamed__";
    if (filename.find('/') != std::string::npos || filename == "." || filename == "..") {
      return MakeError(Code::kInvalidArgument, fmt::format("invalid filename \"{}\"", filename));
    }
    uint32_t perm = 0600;
    if (auto p = Attr("http.perm"); !p.empty()) perm = static_cast<uint32_t>(std::strtoul(p.c_str(), nullptr, 8)) & 0777;
    const uid_t uid = static_cast<uid_t>(std::strtoul(Attr("http.uid").c_str(), nullptr, 10));
    const gid_t gid = static_cast<gid_t>(std::strtoul(Attr("http.gid").c_str(), nullptr, 10));
    HOIST_ASSIGN_OR_RETURN(auto snap, MountedSnapshot::Create(*worker_.options().snapshotter, "",
                                                              true, worker_.options().state_dir));
    const std::string dest = snap->path() + "/" + filename;
    if (::rename(file_.c_str(), dest.c_str()) != 0) {
      // Different filesystems: copy.
      std::ifstream in(file_, std::ios::binary);
      std::ofstream out(dest, std::ios::binary);
      out << in.rdbuf();
      if (!out) return Unexpected(ErrnoError(errno, "store download"));
    }
    if (::chmod(dest.c_str(), perm) != 0 || ::lchown(dest.c_str(), uid, gid) != 0) {
      return Unexpected(ErrnoError(errno, "store download"));
    }
    if (fetched_->last_modified) {
      struct timespec times[2] = {{*fetched_->last_modified, 0}, {*fetched_->last_modified, 0}};
      ::utimensat(AT_FDCWD, dest.c_str(), times, AT_SYMLINK_NOFOLLOW);
    }
    const std::string name = NewSnapshotKey("http");
    HOIST_TRY(snap->Commit(name));
    fetched_.reset();
    return std::vector<ResultRef>{worker_.Ref(name)};
  }

  std::string Name() const override { return url_; }

 private:
  std::string Attr(const std::string& key) const {
    auto it = attrs_.find(key);
    return it == attrs_.end() ? "" : it->second;
  }

  Status EnsureFetched(const OpContext& ctx) {
    std::lock_guard lock(mu_);
    if (fetched_) return OkStatus();
    source::HttpFetchOptions options;
    options.cancel = ctx.cancel.get();
    if (auto c = Attr("http.checksum"); !c.empty()) {
      HOIST_ASSIGN_OR_RETURN(oci::Digest d, oci::Digest::Parse(c));
      options.checksum = d;
    }
    const std::string dir = worker_.options().state_dir + "/http";
    HOIST_TRY(PosixFileSystem()->MakeDirs(dir, 0700));
    file_ = dir + "/" + session::NewRandomId();
    VertexStatus s{.id = url_, .name = url_};
    s.started = progress::Clock::now();
    ctx.progress.Status(s);
    auto r = source::HttpFetch(url_, file_, options);
    if (!r) return Unexpected(std::move(r).error().Wrap(url_));
    s.current = s.total = r->size;
    s.completed = progress::Clock::now();
    ctx.progress.Status(s);
    fetched_ = *r;
    pin_ = r->digest.str();
    return OkStatus();
  }

  Worker& worker_;
  std::string url_;
  std::map<std::string, std::string> attrs_;
  mutable std::mutex mu_;
  std::optional<source::HttpFetchResult> fetched_;
  std::string pin_;
  std::string file_;
};

// A git repository at a commit (BuildKit's source/git). The cache key is the commit the ref
// names now (asked of the remote unless the ref is a commit hash), with the remote, the subdir
// and whether .git is kept: a moved branch builds afresh, an unchanged one is a cache hit.
class GitSourceOp final : public Op {
 public:
  GitSourceOp(Worker& worker, source::GitIdentifier id)
      : worker_(worker), id_(std::move(id)), repos_(worker.options().state_dir + "/git") {}

  Result<CacheMap> GetCacheMap(const OpContext& ctx) override {
    HOIST_TRY(EnsureResolved(ctx));
    std::string key = fmt::format("git\n{}\n{}\n{}\n{}\n{}{}", source::RedactGitURL(id_.remote),
                                  commit_, id_.keep_git_dir ? "keep-git-dir" : "", id_.subdir,
                                  id_.skip_submodules ? "skip-submodules\n" : "",
                                  id_.mtime_from_commit ? "mtime=commit\n" : "");
    return CacheMap{.digest = DigestOf(key)};
  }

  Result<std::vector<ResultRef>> Exec(const OpContext& ctx,
                                      const std::vector<ResultRef>&) override {
    HOIST_TRY(EnsureResolved(ctx));
    VertexStatus s{.id = "checkout " + commit_, .name = fmt::format("checkout {}", commit_)};
    s.started = progress::Clock::now();
    ctx.progress.Status(s);
    HOIST_ASSIGN_OR_RETURN(auto snap, MountedSnapshot::Create(*worker_.options().snapshotter, "",
                                                              true, worker_.options().state_dir));
    source::GitAuth auth = auth_;
    HOIST_ASSIGN_OR_RETURN(auto ssh, OpenSSH(ctx, &auth));
    HOIST_TRY(repos_.Checkout(id_, commit_, auth, snap->path(), ctx.cancel.get()));
    const std::string name = NewSnapshotKey("git");
    HOIST_TRY(snap->Commit(name));
    s.completed = progress::Clock::now();
    ctx.progress.Status(s);
    return std::vector<ResultRef>{worker_.Ref(name)};
  }

  std::string Name() const override { return source::RedactGitURL(id_.remote); }

  std::string Pin() const override {
    std::lock_guard lock(mu_);
    return commit_;
  }

 private:
  Status EnsureResolved(const OpContext& ctx) {
    std::lock_guard lock(mu_);
    if (!commit_.empty()) return OkStatus();
    HOIST_TRY(LoadAuth(ctx));
    source::GitAuth auth = auth_;
    HOIST_ASSIGN_OR_RETURN(auto ssh, OpenSSH(ctx, &auth));
    HOIST_ASSIGN_OR_RETURN(commit_, repos_.Resolve(id_, auth, ctx.cancel.get()));
    return OkStatus();
  }

  // For an SSH remote, what git needs while it talks to it: a socket reaching the client's
  // agent and the known hosts the build gave. Nothing for other remotes.
  struct SSHAccess {
    std::unique_ptr<session::AgentSocket> agent;
    std::optional<TempDir> dir;
  };
  Result<std::unique_ptr<SSHAccess>> OpenSSH(const OpContext& ctx, source::GitAuth* auth) {
    if (!source::IsSSHRemote(id_.remote)) return std::unique_ptr<SSHAccess>();
    auto access = std::make_unique<SSHAccess>();
    const std::string id =
        id_.ssh_id.empty() ? std::string(session::kDefaultSSHID) : id_.ssh_id;
    Status checked = CheckClientSSH(worker_, id, ctx.cancel.get());
    if (!checked) {
      return MakeError(checked.error().code(),
                       fmt::format("{}: git over SSH needs the client's SSH agent: {} (pass --ssh "
                                   "{})",
                                   source::RedactGitURL(id_.remote), checked.error().message(),
                                   id));
    }
    HOIST_ASSIGN_OR_RETURN(
        access->agent,
        session::AgentSocket::Listen(
            worker_.options().state_dir, 0, 0, 0600,
            [this, id, &ctx] { return ForwardClientSSH(worker_, id, ctx.cancel.get()); }));
    auth->ssh_auth_sock = access->agent->path();
    if (!id_.known_ssh_hosts.empty()) {
      HOIST_ASSIGN_OR_RETURN(TempDir d, TempDir::Create("known-hosts-", worker_.options().state_dir));
      const std::string file = d.path() + "/known_hosts";
      HOIST_TRY(WriteFileAtomic(PosixFileSystem(), file, id_.known_ssh_hosts + "\n"));
      auth->known_hosts_file = file;
      access->dir = std::move(d);
    }
    return access;
  }

  // The client's secret for this remote, as BuildKit looks it up: a header or a token named
  // for the remote's host first, then the plain names. A missing secret means no auth.
  Status LoadAuth(const OpContext& ctx) {
    if (source::IsSSHRemote(id_.remote)) return OkStatus();  // HTTP auth only; SSH has the agent
    std::string host = source::RedactGitURL(id_.remote);
    host = host.substr(host.find("://") + 3);
    host = host.substr(0, host.find('/'));
    struct Candidate {
      std::string name;
      bool token;
    };
    std::vector<Candidate> names;
    if (!id_.auth_header_secret.empty()) names.push_back({id_.auth_header_secret + "." + host, false});
    if (!id_.auth_token_secret.empty()) names.push_back({id_.auth_token_secret + "." + host, true});
    if (!id_.auth_header_secret.empty()) names.push_back({id_.auth_header_secret, false});
    if (!id_.auth_token_secret.empty()) names.push_back({id_.auth_token_secret, true});
    for (const Candidate& c : names) {
      std::string data;
      Status st = worker_.options().sessions->Any(
          worker_.options().session_ids,
          [&](session::Session& s) -> Status {
            HOIST_ASSIGN_OR_RETURN(data, s.Secret(c.name));
            return OkStatus();
          },
          session::kDefaultSessionTimeout, ctx.cancel.get());
      if (!st) {
        // As BuildKit: no secret, or no session to ask, means no auth; only a cancelled build
        // stops here.
        if (st.error().code() == Code::kCancelled) return Unexpected(std::move(st).error());
        continue;
      }
      auth_.authorization = c.token ? source::GitTokenAuthorization(data) : data;
      break;
    }
    return OkStatus();
  }

  Worker& worker_;
  source::GitIdentifier id_;
  source::GitRepos repos_;
  mutable std::mutex mu_;
  std::string commit_;
  source::GitAuth auth_;
};

}  // namespace

Result<std::unique_ptr<Op>> MakeSourceOp(Worker& worker, const oci::Digest& digest,
                                         const pb::Op& op, const llb::OpMetadata& metadata) {
  (void)metadata;
  const pb::SourceOp& src = op.source();
  const std::string& identifier = src.identifier();
  const size_t scheme_end = identifier.find("://");
  const std::string scheme =
      scheme_end == std::string::npos ? "" : identifier.substr(0, scheme_end);
  if (scheme == source::kOciLayoutScheme) {
    std::optional<oci::Platform> platform;
    if (op.has_platform()) platform = OpPlatform(worker, op);
    else platform = worker.options().default_platform;
    HOIST_ASSIGN_OR_RETURN(source::OciLayoutIdentifier id,
                           source::ParseOciLayoutIdentifier(identifier, Attrs(src), platform));
    return std::make_unique<OciLayoutSourceOp>(worker, std::move(id));
  }
  if (scheme == "local") {
    return std::make_unique<LocalSourceOp>(worker, identifier.substr(scheme_end + 3), Attrs(src));
  }
  if (scheme == source::kDockerImageScheme) {
    std::optional<oci::Platform> platform;
    if (op.has_platform()) platform = OpPlatform(worker, op);
    else platform = worker.options().default_platform;
    HOIST_ASSIGN_OR_RETURN(source::DockerImageIdentifier id,
                           source::ParseDockerImageIdentifier(identifier, Attrs(src), platform));
    return std::make_unique<DockerImageSourceOp>(worker, std::move(id));
  }
  if (scheme == "http" || scheme == "https") {
    return std::make_unique<HttpSourceOp>(worker, identifier, Attrs(src));
  }
  if (scheme == source::kGitScheme) {
    HOIST_ASSIGN_OR_RETURN(source::GitIdentifier id,
                           source::ParseGitIdentifier(identifier.substr(scheme_end + 3), Attrs(src)));
    return std::make_unique<GitSourceOp>(worker, std::move(id));
  }
  return MakeError(Code::kInvalidArgument,
                   fmt::format("op {}: unknown source type {}", digest.str(), identifier));
}

}  // namespace hoist::solver::ops::internal
