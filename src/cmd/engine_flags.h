// The engine's storage flags, which `hoist` (for its embedded engine) and `hoistd` both take.
// Header-only and CLI11-bound: included by the two mains alone.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace hoist::cmd {

// Adds --snapshotter (also $HOIST_SNAPSHOTTER) and --layer-memory; `prefix` starts their help
// ("Embedded engine: " for hoist, "" for hoistd).
inline void AddEngineStorageFlags(CLI::App& app, const std::string& prefix,
                                  std::string* snapshotter, std::string* layer_memory) {
  app.add_option("--snapshotter", *snapshotter,
                 prefix + "erofs, overlayfs or native (default: erofs where the kernel mounts "
                          "EROFS images, else overlayfs)")
      ->envname("HOIST_SNAPSHOTTER");
  app.add_option("--layer-memory", *layer_memory,
                 prefix + (prefix.empty() ? "The" : "the") +
                     " most memory a new layer (a COPY's, say) is held in before it is written "
                     "as an EROFS image (default 2GiB; 0 writes layers to disk)");
}

}  // namespace hoist::cmd
