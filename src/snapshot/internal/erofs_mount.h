// Mounting EROFS layer images for the overlay snapshotter.
//
// An image is mounted read-only straight from its file where the kernel can (file-backed
// EROFS, Linux 6.12 and later), else through a loop device set up read-only with autoclear, so
// that unmounting frees the device. Mount points are detached lazily (MNT_DETACH): an overlay
// made from a lower layer keeps that layer reachable for as long as it lives.
//
// Thread-safety: functions touch only the paths they are given.
#pragma once

#include <string>

#include "base/error.h"

namespace hoist::snapshot::internal {

struct ErofsMountOptions {
  // Tests only: go through a loop device even where a file-backed mount works.
  bool force_loop_for_testing = false;
};

// Mounts the EROFS image `image` read-only (nodev off: whiteouts are character devices that
// overlayfs reads) on the existing directory `target`. Errors name the image's role, never a
// client path: `mount EROFS image on <target>: ...`.
Status MountErofs(const std::string& image, const std::string& target,
                  const ErofsMountOptions& options = {});

// Detaches what is mounted on `path`; nothing mounted there is not an error.
Status DetachMount(const std::string& path);

// Writes the image of an empty layer under `scratch_dir` and mounts it once (ProbeErofs's
// test, without its memory).
Status MountOnce(const std::string& scratch_dir);

}  // namespace hoist::snapshot::internal
