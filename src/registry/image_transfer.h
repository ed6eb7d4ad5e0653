// Whole images between a registry and a content store: pulling a reference (its index or
// manifest, the chosen manifests, configs and layers) and pushing an image under one or more
// references. Layers move several at a time; each is verified as it streams (client.h).
//
// Thread-safety: the functions are thread-safe for distinct stores; callbacks may come from
// several threads at once.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "content/content_store.h"
#include "content/image_resolver.h"
#include "oci/descriptor.h"
#include "oci/manifest.h"
#include "oci/platform.h"
#include "oci/reference.h"
#include "registry/client.h"

namespace hoist::registry {

// Blobs moved at once by default.
inline constexpr int kDefaultConcurrency = 4;

// One blob's progress: started (done 0), bytes, finished (finished = true).
struct BlobEvent {
  oci::Descriptor desc;
  int64_t done = 0;
  bool finished = false;
  bool skipped = false;  // already present (pull) or already in the registry / mounted (push)
};
using BlobEventFn = std::function<void(const BlobEvent&)>;

struct PullOptions {
  // The platform to select from an index; nullopt: the host's. Ignored with all_platforms.
  std::optional<oci::Platform> platform;
  // Every manifest of an index (attestations included), as `skopeo copy --all`.
  bool all_platforms = false;
  // false: only the root, the selected manifest and its config (metadata for a frontend).
  bool layers = true;
  int concurrency = kDefaultConcurrency;
  BlobEventFn on_blob;
  CancelContext* cancel = nullptr;
};

struct PulledImage {
  // The reference with its digest (`docker.io/library/alpine:3.18@sha256:…`).
  oci::Reference ref;
  oci::Descriptor root;
  // The selected platform's image (not set with all_platforms).
  std::optional<content::ResolvedImage> image;
};

// Pulls `ref` into `into`: the root (by tag or digest), then per the options. Blobs already in
// `into` are not fetched again.
Result<PulledImage> PullImage(Client& client, const oci::Reference& ref,
                              content::ContentStore& into, const PullOptions& options);

// The layers of `manifest` that registries carry (non-distributable ones are left out).
std::vector<oci::Descriptor> DistributableLayers(const oci::Manifest& manifest);

// Fetches `layers` of `repo` into `into`, `concurrency` at a time; the first failure cancels
// the rest and is returned.
Status FetchBlobs(Client& client, const oci::Reference& repo,
                  const std::vector<oci::Descriptor>& blobs, content::ContentStore& into,
                  int concurrency, const BlobEventFn& on_blob, CancelContext* cancel);

struct PushOptions {
  int concurrency = kDefaultConcurrency;
  BlobEventFn on_blob;
  CancelContext* cancel = nullptr;
  // Push the root by digest only (no tag), as `push-by-digest=true`.
  bool by_digest = false;
};

// Pushes the image `root` (a manifest, or an index and every manifest it names that `from`
// holds) from `from` to each of `targets` (named references; a target's tag is the tag pushed,
// `latest` when it has none). Blobs first (layers in parallel, then configs), then manifests,
// then the root under each tag, with their exact bytes.
Status PushImage(Client& client, content::ContentStore& from, const oci::Descriptor& root,
                 const std::vector<oci::Reference>& targets, const PushOptions& options);

}  // namespace hoist::registry
