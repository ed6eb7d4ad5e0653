#include "exporter/attestation.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::exporter {

Result<std::string> InTotoStatement(const Attestation& a,
                                    const std::vector<InTotoSubject>& subjects) {
  auto predicate = nlohmann::ordered_json::parse(a.predicate, nullptr, false);
  if (predicate.is_discarded() || !predicate.is_object()) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("attestation {}: the predicate is not a JSON object",
                                 a.predicate_type));
  }
  nlohmann::ordered_json s = nlohmann::ordered_json::object();
  s["_type"] = kInTotoStatementType;
  s["predicateType"] = a.predicate_type;
  s["subject"] = nlohmann::ordered_json::array();
  for (const InTotoSubject& sub : subjects) {
    s["subject"].push_back(
        {{"name", sub.name}, {"digest", {{sub.digest.algorithm(), sub.digest.encoded()}}}});
  }
  s["predicate"] = std::move(predicate);
  return s.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<oci::Descriptor> WriteAttestationManifest(content::ContentStore& store,
                                                 const oci::Descriptor& target,
                                                 const std::vector<Statement>& statements) {
  oci::Manifest m;
  m.media_type = oci::kMediaTypeImageManifest;
  nlohmann::ordered_json diff_ids = nlohmann::ordered_json::array();
  for (const Statement& s : statements) {
    HOIST_ASSIGN_OR_RETURN(content::BlobInfo info, content::WriteBlob(store, s.json));
    m.layers.push_back({.media_type = std::string(kMediaTypeInToto),
                        .digest = info.digest,
                        .size = info.size,
                        .annotations = {{std::string(kAnnotationPredicateType),
                                         s.predicate_type}}});
    diff_ids.push_back(info.digest.str());
  }
  // The placeholder config: nothing to run, so nothing a runtime could pick.
  nlohmann::ordered_json config = {{"architecture", "unknown"},
                                   {"os", "unknown"},
                                   {"config", nlohmann::ordered_json::object()},
                                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo cinfo, content::WriteBlob(store, config.dump()));
  m.config = {.media_type = std::string(oci::kMediaTypeImageConfig),
              .digest = cinfo.digest,
              .size = cinfo.size};
  const std::string json = oci::SerializeManifest(m);
  HOIST_ASSIGN_OR_RETURN(content::BlobInfo minfo, content::WriteBlob(store, json));
  return oci::Descriptor{
      .media_type = std::string(oci::kMediaTypeImageManifest),
      .digest = minfo.digest,
      .size = minfo.size,
      .annotations = {{std::string(kAnnotationReferenceDigest), target.digest.str()},
                      {std::string(kAnnotationReferenceType),
                       std::string(kReferenceTypeAttestation)}},
      .platform = oci::Platform{.os = "unknown", .architecture = "unknown"}};
}

bool IsAttestationManifest(const oci::Descriptor& d) {
  auto it = d.annotations.find(std::string(kAnnotationReferenceType));
  return it != d.annotations.end() && it->second == kReferenceTypeAttestation;
}

}  // namespace hoist::exporter
