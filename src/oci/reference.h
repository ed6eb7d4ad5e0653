// Image references (`docker.io/library/alpine:3.20@sha256:...`) with the grammar and the
// Docker Hub normalisation of github.com/distribution/reference (see reference_grammar.h).
//
// A Reference keeps its parts apart: domain, path, tag and digest. It is either named (a path,
// maybe a domain, tag and digest) or digest-only (`sha256:...`, from ParseAnyReference).
// Familiar forms drop `docker.io/` and `library/`: `docker.io/library/redis` ↔ `redis`.
//
// Errors are kInvalidArgument and start with the input: `invalid reference "Foo": repository
// name must be lowercase`. The reasons are upstream's: `invalid reference format`,
// `repository name must be lowercase`, `repository name must have at least one component`,
// `repository name must not be more than 255 characters`, `repository name must be
// canonical`, or the digest's own error.
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "oci/digest.h"

namespace hoist::oci {

// The longest repository path (the name without its domain) a reference may have.
inline constexpr size_t kMaxRepositoryPathLength = 255;
// Where familiar names live, and the namespace of its official images.
inline constexpr std::string_view kDefaultDomain = "docker.io";
inline constexpr std::string_view kOfficialRepoPrefix = "library/";
inline constexpr std::string_view kDefaultTag = "latest";

class Reference {
 public:
  // An empty reference (no name, tag or digest); only for default-constructed containers.
  Reference() = default;

  // The registry host and port, e.g. `docker.io` or `localhost:5000`; may be empty.
  const std::string& domain() const { return domain_; }
  // The repository path, e.g. `library/redis`; empty for a digest-only reference.
  const std::string& path() const { return path_; }
  // `domain/path`, or `path` without a domain; empty for a digest-only reference.
  std::string Name() const;
  const std::string& tag() const { return tag_; }
  const std::optional<Digest>& digest() const { return digest_; }

  bool has_name() const { return !path_.empty(); }
  bool has_tag() const { return !tag_.empty(); }
  bool has_digest() const { return digest_.has_value(); }
  // A name with neither tag nor digest.
  bool IsNameOnly() const { return has_name() && !has_tag() && !has_digest(); }

  // `name[:tag][@digest]`, or the digest alone.
  std::string String() const;

  friend bool operator==(const Reference&, const Reference&) = default;

 private:
  friend struct ReferenceAccess;  // the parsers in reference.cc
  std::string domain_;
  std::string path_;
  std::string tag_;
  std::optional<Digest> digest_;
};

// Parses a reference exactly as written, without normalising (distribution's Parse): `redis`
// stays `redis`, with no domain. The digest, if any, must be a valid Digest.
Result<Reference> ParseReference(std::string_view s);
// Parses a familiar or full name into the full form: `redis` → `docker.io/library/redis`,
// `index.docker.io/x/y` → `docker.io/x/y`. Rejects 64 lowercase hex digits, which would be
// read as an image ID.
Result<Reference> ParseNormalizedNamed(std::string_view s);
// Parses a name that must already be in full form (ParseNormalizedNamed(s).String() == s).
Result<Reference> ParseNamed(std::string_view s);
// Accepts an image ID (64 hex digits), a digest, or anything ParseNormalizedNamed accepts.
Result<Reference> ParseAnyReference(std::string_view s);
// ParseNormalizedNamed, then `:latest` if there is neither tag nor digest; with both, the tag
// is dropped.
Result<Reference> ParseDockerRef(std::string_view s);

// A reference that is only a name, checked against the name grammar (no normalisation).
Result<Reference> WithName(std::string_view name);
// `named` with its tag set (a digest is kept). REQUIRES nothing; a digest-only `named` fails.
Result<Reference> WithTag(const Reference& named, std::string_view tag);
// `named` with its digest set (a tag is kept); a digest-only `named` fails.
Result<Reference> WithDigest(const Reference& named, const Digest& digest);
// The name alone.
Reference TrimNamed(const Reference& ref);
// Adds `:latest` to a name that has neither tag nor digest; other references are returned as is.
Reference TagNameOnly(const Reference& ref);

// The name as users write it: `docker.io/library/redis` → `redis`,
// `docker.io/dmcgowan/app` → `dmcgowan/app`; other domains are kept.
std::string FamiliarName(const Reference& ref);
// String() of the familiar form: `redis:7`, `dmcgowan/app@sha256:...`.
std::string FamiliarString(const Reference& ref);
// Whether `pattern` (Go path.Match syntax: `*`, `?`, `[a-z]`, `\`) matches FamiliarString or,
// failing that, FamiliarName. A malformed pattern is an error.
Result<bool> FamiliarMatch(std::string_view pattern, const Reference& ref);

// Sorts reference strings most informative first: name+tag+digest, name+tag, name+digest,
// name, digest; ties by their normalised strings, which are returned; unparsable ones last,
// as given, in byte order.
std::vector<std::string> SortReferences(const std::vector<std::string>& refs);

}  // namespace hoist::oci
