// Exporting a built image out of the engine's content store: as an OCI layout tarball, as a
// Docker-loadable tarball (an OCI layout plus manifest.json), or into an OCI layout directory
// (SPEC-oci-layout.md §4).
//
// Tarballs are deterministic: entries sorted by name, fixed modes and times, so the same image
// and names give the same bytes. Blobs in the tarball and in a layout directory are the very
// blobs of the store: the tar and the directory hold byte-identical blobs.
//
// Thread-safety: functions over the stores they are given; ExportToLayoutDirectory takes the
// layout's index lock for its index update.
#pragma once

#include <string>
#include <vector>

#include "archive/compression.h"
#include "base/error.h"
#include "base/file_system.h"
#include "content/content_store.h"
#include "content/oci_layout.h"
#include "oci/descriptor.h"

namespace hoist::exporter {

enum class ArchiveFormat {
  kOci,     // oci-layout, index.json, blobs/sha256/*
  kDocker,  // the same plus manifest.json with RepoTags, for `docker load`
};

struct ArchiveOptions {
  ArchiveFormat format = ArchiveFormat::kOci;
  // Index entries (and, for kDocker, RepoTags); none: one entry tagged `latest`.
  std::vector<content::LayoutName> names;
};

// Writes the image rooted at `root` (a manifest or an index), with every blob reachable from
// it, as a tarball to `out`. kDocker needs a single-platform image: an index root is refused
// (`docker exporter does not support exporting manifest lists, use the oci exporter`).
Status WriteImageArchive(content::ContentStore& store, const oci::Descriptor& root,
                         const ArchiveOptions& options, archive::ByteSink* out);

// Copies the image into the OCI layout at `dir` (created if needed, blobs already present are
// kept), then names it in index.json under the layout's lock: one entry per name, an entry
// with the same name replaced, every other entry kept.
Status ExportToLayoutDirectory(FileSystem* fs, content::ContentStore& store,
                               const oci::Descriptor& root,
                               const std::vector<content::LayoutName>& names,
                               const std::string& dir);

// The Docker familiar form of a full image name: `docker.io/library/app:1` → `app:1`,
// `docker.io/org/app:1` → `org/app:1`; other registries unchanged.
std::string FamiliarName(std::string_view full_name);

}  // namespace hoist::exporter
