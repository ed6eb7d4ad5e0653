// Package URLs (github.com/package-url/purl-spec): `pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS`,
// as attestations name images (`pkg:docker/alpine@3.18?platform=linux%2Famd64`) and packages
// (`pkg:deb/debian/bash@5.2.15-2?arch=amd64`).
//
// Encoding follows packageurl-go, which BuildKit uses: each namespace segment, the name and the
// version are path-escaped as Go's url.PathEscape does (unreserved characters and `$&+:=`
// kept: `libstdc++6`, `127.0.0.1:5000`, Debian epochs; `@` is encoded, as the spec wants);
// qualifier values are query-escaped (`/` as %2F, `+` as %2B), qualifiers are sorted by key,
// and empty ones are left out.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "oci/platform.h"
#include "oci/reference.h"

namespace hoist::oci {

struct PackageURL {
  std::string type;       // lower case: docker, deb, apk, npm, pypi, cargo
  std::string namespace_; // may hold `/`; empty: none
  std::string name;
  std::string version;    // empty: none
  std::map<std::string, std::string> qualifiers;

  std::string String() const;
};

// An image reference as BuildKit names images in provenance and attestation subjects: the
// familiar name split into namespace and name, the tag as version (`latest` for a bare name),
// the digest of a canonical reference and the platform as qualifiers.
PackageURL ImagePURL(const Reference& ref, const std::optional<Platform>& platform);

}  // namespace hoist::oci
