// Exporting a built image out of the engine's content store as an OCI layout tarball or a
// Docker-loadable tarball (an OCI layout plus manifest.json) (SPEC-oci-layout.md §4). An OCI
// layout directory is written by the client, through the session's export store.
//
// Tarballs are deterministic: entries sorted by name, fixed modes and times, so the same image
// and names give the same bytes. Blobs in the tarball are the very blobs of the store, as are
// those copied into a layout directory: the tar and the directory hold byte-identical blobs.
//
// Thread-safety: functions over the stores they are given.
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
// (`docker exporter does not support exporting manifest lists, use the oci exporter`) unless
// its only runnable manifest has attestation manifests beside it (manifest.json names that
// one; index.json keeps the attestations).
Status WriteImageArchive(content::ContentStore& store, const oci::Descriptor& root,
                         const ArchiveOptions& options, archive::ByteSink* out);

// The Docker familiar form of a full image name: `docker.io/library/app:1` → `app:1`,
// `docker.io/org/app:1` → `org/app:1`; other registries unchanged.
std::string FamiliarName(std::string_view full_name);

}  // namespace hoist::exporter
