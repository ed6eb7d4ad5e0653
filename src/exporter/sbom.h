// The software bill of materials of a built filesystem, as an SPDX 2.3 JSON document, for the
// SBOM attestation (`--sbom`). BuildKit runs a scanner image for this; hoist reads the package
// databases itself, so that an air-gapped build gets its SBOM too:
//
//   deb    /var/lib/dpkg/status and /var/lib/dpkg/status.d/* (distroless): packages whose
//          status is `installed`, as `dpkg-query -W` lists them
//   apk    /lib/apk/db/installed
//   npm       node_modules/<name>/package.json and node_modules/@scope/<name>/package.json
//             anywhere in the tree, package-lock.json files (lockfile v1 to v3) and yarn.lock
//             files (classic and berry; workspaces and links left out)
//   pypi      site-packages (or dist-packages) *.dist-info/METADATA and *.egg-info/PKG-INFO
//   cargo     Cargo.lock files
//   gem       Gemfile.lock files (the GEM section's specs)
//   composer  composer.lock files (packages and packages-dev)
//
// Each package gets a purl (`pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64&distro=debian-12`,
// namespace and distro from /etc/os-release) and the file it was found in; one package found
// twice (a lockfile and its node_modules) is listed once. The document describes one package
// for the image, which CONTAINS the others.
//
// The tree is untrusted: files are read with the tree as their root (no symlink leads out), the
// walk never follows symlinks, files above 64 MiB and malformed entries are skipped, not fatal.
//
// Thread-safety: pure functions over the tree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"

namespace hoist::exporter {

struct SbomPackage {
  std::string type;  // deb, apk, npm, pypi, cargo, gem, composer
  std::string name;
  std::string version;
  std::string arch;      // when the database says
  std::string supplier;  // the maintainer, when the database says
  std::string license;   // as the package declares it (free text)
  std::string purl;
  std::string location;  // the file it was found in, from the tree's root: /var/lib/dpkg/status
};

// Every package found in the tree at `root`, sorted by type, name, version.
Result<std::vector<SbomPackage>> ScanPackages(const std::string& root);

struct SpdxOptions {
  std::string name;  // the document's and the image package's name
  int64_t created = 0;  // unix seconds
};

// The SPDX 2.3 JSON document. Its namespace is derived from its content, so the same packages,
// name and time give the same bytes.
std::string SpdxDocument(const std::vector<SbomPackage>& packages, const SpdxOptions& options);

}  // namespace hoist::exporter
