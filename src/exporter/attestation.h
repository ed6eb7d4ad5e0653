// Attestations attached to images, in BuildKit's storage format (its docs/attestations/
// attestation-storage.md): each attestation is an in-toto statement
//
//   {"_type":"https://in-toto.io/Statement/v0.1","predicateType":T,"subject":[...],
//    "predicate":{...}}
//
// stored as a layer (`application/vnd.in-toto+json`, annotated `in-toto.io/predicate-type`)
// of one attestation manifest per platform manifest. That manifest's config is a placeholder
// image config (`unknown/unknown`, diff IDs = the statements' digests). In the image index it
// follows the runnable manifests, with platform unknown/unknown and the annotations
// `vnd.docker.reference.type: attestation-manifest` and `vnd.docker.reference.digest: <the
// manifest it is about>`, so that runtimes never pick it and readers (`docker buildx
// imagetools inspect`) find it.
//
// Thread-safety: functions over the store they are given.
#pragma once

#include <string>
#include <vector>

#include "base/error.h"
#include "content/content_store.h"
#include "oci/descriptor.h"

namespace hoist::exporter {

inline constexpr std::string_view kInTotoStatementType = "https://in-toto.io/Statement/v0.1";
inline constexpr std::string_view kMediaTypeInToto = "application/vnd.in-toto+json";
inline constexpr std::string_view kAnnotationPredicateType = "in-toto.io/predicate-type";
inline constexpr std::string_view kAnnotationReferenceType = "vnd.docker.reference.type";
inline constexpr std::string_view kAnnotationReferenceDigest = "vnd.docker.reference.digest";
inline constexpr std::string_view kReferenceTypeAttestation = "attestation-manifest";
inline constexpr std::string_view kPredicateSLSAProvenance = "https://slsa.dev/provenance/v0.2";
inline constexpr std::string_view kPredicateSPDX = "https://spdx.dev/Document";

// One attestation about one platform's image, before it has subjects.
struct Attestation {
  std::string predicate_type;
  std::string predicate;  // JSON
  // Its file name where outputs are files (local, tar): provenance.json, sbom.spdx.json.
  std::string path;
  // Attached only by exporters that store images (image, registry) and to multi-platform
  // indexes: buildx's default provenance, so that a single-platform tarball or layout stays one
  // manifest unless attestations were asked for.
  bool inline_only = false;
};

struct InTotoSubject {
  std::string name;
  oci::Digest digest;
};

// The statement's JSON (compact, members in the order above). kInvalidArgument when the
// predicate is not a JSON object.
Result<std::string> InTotoStatement(const Attestation& a,
                                    const std::vector<InTotoSubject>& subjects);

// Writes the statements (each with its predicate type) as an attestation manifest about
// `target` into `store`; returns its index entry (platform and annotations set).
struct Statement {
  std::string predicate_type;
  std::string json;
};
Result<oci::Descriptor> WriteAttestationManifest(content::ContentStore& store,
                                                 const oci::Descriptor& target,
                                                 const std::vector<Statement>& statements);

// Whether an index entry is an attestation manifest.
bool IsAttestationManifest(const oci::Descriptor& d);

}  // namespace hoist::exporter
