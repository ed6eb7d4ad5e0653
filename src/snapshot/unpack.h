// Unpacking an image: materialising the root filesystem of a resolved image by applying its
// layers in order to a fresh directory. Every layer blob is verified while it streams: its
// compressed digest and size against the manifest, its uncompressed digest against the
// config's rootfs.diff_ids (a blob of a store that verified it on commit, the engine's own, is
// not hashed again: its DiffID proves the contents). The tree is built in a temporary directory beside the destination
// and renamed into place only when every layer applied, so a failure leaves nothing behind.
//
// Thread-safety: UnpackImage may run concurrently for different destinations.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "archive/apply.h"
#include "archive/layer.h"
#include "base/cancel.h"
#include "base/error.h"
#include "content/content_store.h"
#include "content/image_resolver.h"

namespace hoist::snapshot {

struct UnpackOptions {
  // lchown files to the owners the layers name (needs root).
  bool restore_ownership = true;
  // Write overlayfs whiteouts instead of deleting (for unpacking into an overlay upper dir).
  bool overlay = false;
  // A layer's entry for the root itself (`./`) sets the root's owner, mode and times, as GNU
  // tar and umoci do (archive::ApplyOptions::root_metadata); off, the root stays 0755.
  bool root_metadata = true;
  CancelContext* cancel = nullptr;
  // Called after each layer: index (0-based), its descriptor and what applying it did.
  std::function<void(size_t, const oci::Descriptor&, const archive::ApplyStats&)> on_layer;
};

struct UnpackStats {
  size_t layers = 0;
  uint64_t compressed_bytes = 0;
  uint64_t uncompressed_bytes = 0;
  uint64_t entries = 0;
  uint64_t files = 0;
};

// Applies `image`'s layers to `dest`. `dest` must not exist, or be an empty directory.
// Errors name the layer: `layer 2/3 sha256:...: diff ID mismatch ...`.
Result<UnpackStats> UnpackImage(content::ContentStore& store, const content::ResolvedImage& image,
                                const std::string& dest, const UnpackOptions& options = {});

// A layer blob opened from the store as its uncompressed tar, verified while it streams: its
// digest and size against the descriptor, its uncompressed digest against `diff_id`. Read `tar`
// to its end, then call `tar->Finish()`, which fails on any mismatch.
struct VerifiedLayer {
  std::unique_ptr<archive::ByteSource> blob;  // what `tar` reads from
  std::unique_ptr<archive::LayerReader> tar;
};
Result<VerifiedLayer> OpenVerifiedLayer(content::ContentStore& store, const oci::Descriptor& layer,
                                        const oci::Digest& diff_id);

// Applies one layer blob, verified, to an existing directory (no temporary copy).
Result<archive::ApplyStats> ApplyLayerBlob(content::ContentStore& store,
                                           const oci::Descriptor& layer,
                                           const oci::Digest& diff_id, const std::string& root,
                                           const archive::ApplyOptions& options);

}  // namespace hoist::snapshot
