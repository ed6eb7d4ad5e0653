#include "registry/image_transfer.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "base/parallel.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::registry {
namespace {

constexpr int kMaxDepth = 8;

// A read view of `local` that first fetches what it lacks from the registry. It knows whether
// a digest is a manifest (…/manifests/) or a blob (…/blobs/) from the parent that named it,
// so it serves readers that walk an image from its root (content::ResolveImage).
class FetchingStore final : public content::ContentStore {
 public:
  // `on_blob` (may be null) hears of each non-manifest blob it fetches (an image config).
  FetchingStore(Client& client, const oci::Reference& repo, content::ContentStore& local,
                CancelContext* cancel, BlobEventFn on_blob)
      : client_(client), repo_(repo), local_(local), cancel_(cancel), on_blob_(std::move(on_blob)) {}

  void ExpectManifest(const oci::Descriptor& d) {
    std::lock_guard lock(mu_);
    kinds_[d.digest] = {d, true};
  }

  Result<content::BlobInfo> Info(const oci::Digest& digest) override {
    HOIST_TRY(Ensure(digest));
    return local_.Info(digest);
  }
  Result<std::unique_ptr<content::BlobReader>> ReaderAt(const oci::Digest& digest) override {
    HOIST_TRY(Ensure(digest));
    return local_.ReaderAt(digest);
  }
  Result<std::unique_ptr<content::BlobWriter>> Writer(const std::string&) override {
    return MakeError(Code::kPermissionDenied, "read-only view");
  }
  Status Delete(const oci::Digest&) override {
    return MakeError(Code::kPermissionDenied, "read-only view");
  }
  Status Walk(const std::function<Status(const content::BlobInfo&)>& fn) override {
    return local_.Walk(fn);
  }

  // Makes sure `digest` is local; for a manifest or index, learns what it names.
  Status Ensure(const oci::Digest& digest) {
    std::optional<Kind> kind;
    {
      std::lock_guard lock(mu_);
      auto it = kinds_.find(digest);
      if (it != kinds_.end()) kind = it->second;
    }
    if (!kind) {
      if (local_.Info(digest)) return OkStatus();
      return Unexpected(content::BlobNotFound(digest));
    }
    if (!kind->manifest) {
      if (local_.Info(digest)) return OkStatus();
      HOIST_TRY(client_.FetchBlob(repo_, kind->desc, local_, nullptr, cancel_));
      if (on_blob_) on_blob_({.desc = kind->desc, .done = kind->desc.size, .finished = true});
      return OkStatus();
    }
    std::string bytes;
    if (local_.Info(digest)) {
      HOIST_ASSIGN_OR_RETURN(bytes, content::ReadBlob(local_, kind->desc, kMaxManifestBytes));
    } else {
      HOIST_ASSIGN_OR_RETURN(bytes, client_.FetchManifest(repo_, kind->desc, cancel_));
      auto w = content::WriteBlob(local_, bytes, digest);
      if (!w && w.error().code() != Code::kAlreadyExists) return Unexpected(std::move(w).error());
    }
    Learn(kind->desc, bytes);
    return OkStatus();
  }

 private:
  struct Kind {
    oci::Descriptor desc;
    bool manifest = false;
  };

  void Learn(const oci::Descriptor& desc, const std::string& bytes) {
    std::string mt = desc.media_type;
    if (!oci::IsIndexType(mt) && !oci::IsManifestType(mt)) mt = oci::SniffMediaType(bytes);
    std::lock_guard lock(mu_);
    if (oci::IsIndexType(mt)) {
      auto index = oci::ParseIndex(bytes);
      if (!index) return;  // the reader reports the parse error
      for (const auto& d : index->manifests) kinds_.try_emplace(d.digest, Kind{d, true});
    } else if (oci::IsManifestType(mt)) {
      auto m = oci::ParseManifest(bytes);
      if (!m) return;
      kinds_.try_emplace(m->config.digest, Kind{m->config, false});
      for (const auto& l : m->layers) kinds_.try_emplace(l.digest, Kind{l, false});
    }
  }

  Client& client_;
  oci::Reference repo_;
  content::ContentStore& local_;
  CancelContext* cancel_;
  BlobEventFn on_blob_;
  std::mutex mu_;
  std::map<oci::Digest, Kind> kinds_;
};

bool Distributable(const oci::Descriptor& d) {
  return !oci::IsNonDistributableLayerType(d.media_type);
}

// Everything an image in `store` consists of, children before parents.
struct ImageParts {
  std::vector<oci::Descriptor> blobs;      // layers and configs, each once
  std::vector<oci::Descriptor> manifests;  // manifests and nested indexes, root last
};

Status CollectParts(content::ContentStore& store, const oci::Descriptor& desc, int depth,
                    std::set<oci::Digest>* seen, ImageParts* out) {
  if (depth > kMaxDepth) return MakeError(Code::kInvalidArgument, "image indexes nested too deeply");
  if (!seen->insert(desc.digest).second) return OkStatus();
  HOIST_ASSIGN_OR_RETURN(std::string bytes, content::ReadBlob(store, desc, kMaxManifestBytes));
  std::string mt = desc.media_type;
  if (!oci::IsIndexType(mt) && !oci::IsManifestType(mt)) mt = oci::SniffMediaType(bytes);
  oci::Descriptor typed = desc;
  typed.media_type = mt;
  if (oci::IsIndexType(mt)) {
    auto index = oci::ParseIndex(bytes);
    if (!index) return Unexpected(std::move(index).error().Wrap("index " + desc.digest.str()));
    for (const auto& child : index->manifests) {
      // Every manifest an index names goes with it.
      if (!store.Info(child.digest)) {
        return MakeError(Code::kNotFound,
                         fmt::format("content {}: not found (named by index {})",
                                     child.digest.str(), desc.digest.str()));
      }
      HOIST_TRY(CollectParts(store, child, depth + 1, seen, out));
    }
  } else if (oci::IsManifestType(mt)) {
    auto m = oci::ParseManifest(bytes);
    if (!m) return Unexpected(std::move(m).error().Wrap("manifest " + desc.digest.str()));
    for (const auto& l : m->layers) {
      if (Distributable(l) && seen->insert(l.digest).second) out->blobs.push_back(l);
    }
    if (seen->insert(m->config.digest).second) out->blobs.push_back(m->config);
  } else {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("{} is neither an index nor a manifest", desc.digest.str()));
  }
  out->manifests.push_back(typed);
  return OkStatus();
}

}  // namespace

std::vector<oci::Descriptor> DistributableLayers(const oci::Manifest& manifest) {
  std::vector<oci::Descriptor> out;
  for (const auto& l : manifest.layers) {
    if (Distributable(l)) out.push_back(l);
  }
  return out;
}

Status FetchBlobs(Client& client, const oci::Reference& repo,
                  const std::vector<oci::Descriptor>& blobs, content::ContentStore& into,
                  int concurrency, const BlobEventFn& on_blob, CancelContext* cancel) {
  return ParallelFor(blobs.size(), concurrency, cancel, [&](size_t i, CancelContext* c) -> Status {
    const oci::Descriptor& d = blobs[i];
    if (into.Info(d.digest)) {
      if (on_blob) on_blob({.desc = d, .done = d.size, .finished = true, .skipped = true});
      return OkStatus();
    }
    if (on_blob) on_blob({.desc = d});
    HOIST_TRY(client.FetchBlob(
        repo, d, into,
        [&](int64_t done, int64_t) {
          if (on_blob) on_blob({.desc = d, .done = done});
        },
        c));
    if (on_blob) on_blob({.desc = d, .done = d.size, .finished = true});
    return OkStatus();
  });
}

Result<PulledImage> PullImage(Client& client, const oci::Reference& ref,
                              content::ContentStore& into, const PullOptions& options) {
  HOIST_ASSIGN_OR_RETURN(oci::Descriptor root, client.Resolve(ref, options.cancel));
  PulledImage out;
  out.root = root;
  HOIST_ASSIGN_OR_RETURN(out.ref, oci::WithDigest(ref, root.digest));
  FetchingStore view(client, ref, into, options.cancel, options.on_blob);
  view.ExpectManifest(root);
  if (options.all_platforms) {
    // Fetch every manifest (walking from the root), then every blob.
    ImageParts parts;
    std::set<oci::Digest> seen;
    // CollectParts reads manifests through the view, which fetches them as it is asked;
    // the blobs it lists are then fetched in parallel.
    HOIST_TRY(CollectParts(view, root, 0, &seen, &parts));
    if (options.layers) {
      HOIST_TRY(FetchBlobs(client, ref, parts.blobs, into, options.concurrency, options.on_blob,
                           options.cancel));
    }
    return out;
  }
  HOIST_ASSIGN_OR_RETURN(content::ResolvedImage image,
                         content::ResolveImage(view, root, options.platform, ref.String()));
  if (options.layers) {
    HOIST_TRY(FetchBlobs(client, ref, DistributableLayers(image.manifest), into,
                         options.concurrency, options.on_blob, options.cancel));
  }
  out.image = std::move(image);
  return out;
}

Status PushImage(Client& client, content::ContentStore& from, const oci::Descriptor& root,
                 const std::vector<oci::Reference>& targets, const PushOptions& options) {
  ImageParts parts;
  std::set<oci::Digest> seen;
  HOIST_TRY(CollectParts(from, root, 0, &seen, &parts));
  // Blobs go once to each repository; then the manifests, and the root under each tag.
  std::vector<oci::Reference> repos;
  for (const oci::Reference& t : targets) {
    const bool seen_repo = std::any_of(repos.begin(), repos.end(), [&](const oci::Reference& r) {
      return r.Name() == t.Name();
    });
    if (!seen_repo) repos.push_back(t);
  }
  for (const oci::Reference& repo : repos) {
    // One request first, alone, so that the parallel uploads find the auth it earned.
    if (!parts.blobs.empty()) HOIST_TRY(client.HasBlob(repo, parts.blobs[0].digest, options.cancel));
    HOIST_TRY(ParallelFor(
        parts.blobs.size(), options.concurrency, options.cancel,
        [&](size_t i, CancelContext* c) -> Status {
          const oci::Descriptor& d = parts.blobs[i];
          if (options.on_blob) options.on_blob({.desc = d});
          HOIST_ASSIGN_OR_RETURN(Client::PushOutcome outcome,
                                 client.PushBlob(
                                     repo, d, from,
                                     [&](int64_t done, int64_t) {
                                       if (options.on_blob) options.on_blob({.desc = d, .done = done});
                                     },
                                     c));
          if (options.on_blob) {
            options.on_blob({.desc = d,
                             .done = d.size,
                             .finished = true,
                             .skipped = outcome != Client::PushOutcome::kUploaded});
          }
          return OkStatus();
        }));
    std::vector<std::string> bytes(parts.manifests.size());
    for (size_t i = 0; i < parts.manifests.size(); ++i) {
      HOIST_ASSIGN_OR_RETURN(bytes[i], content::ReadBlob(from, parts.manifests[i], kMaxManifestBytes));
    }
    for (size_t i = 0; i + 1 < parts.manifests.size(); ++i) {
      const oci::Descriptor& m = parts.manifests[i];
      HOIST_TRY(client.PushManifest(repo, m.digest.str(), m.media_type, bytes[i], options.cancel));
    }
    const oci::Descriptor& top = parts.manifests.back();
    if (options.by_digest) {
      HOIST_TRY(client.PushManifest(repo, top.digest.str(), top.media_type, bytes.back(),
                                    options.cancel));
      continue;
    }
    for (const oci::Reference& t : targets) {
      if (t.Name() != repo.Name()) continue;
      const std::string tag = t.has_tag() ? t.tag() : std::string(oci::kDefaultTag);
      HOIST_TRY(client.PushManifest(repo, tag, top.media_type, bytes.back(), options.cancel));
    }
  }
  return OkStatus();
}

}  // namespace hoist::registry
