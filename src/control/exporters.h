// The exporters: a build's result (one snapshot per platform, with its image config) written
// as an image into the engine and pushed (`image`, `registry`), as an OCI or Docker tarball or
// OCI layout (`oci`, `docker`), as files (`local`, `tar`). Types and attributes are BuildKit's.
//
// Thread-safety: one export at a time per result; different builds may export concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "content/oci_layout.h"
#include "control/engine_parts.h"
#include "control/provenance.h"
#include "control/solve_request.h"
#include "exporter/attestation.h"
#include "frontend/dockerfile/convert.h"
#include "oci/descriptor.h"
#include "oci/platform.h"
#include "oci/reference.h"
#include "progress/event.h"
#include "session/session.h"
#include "solver/ops/worker.h"
#include "solver/scheduler.h"

namespace hoist::control {

// One platform's build: its result and what the frontend made of it.
struct PlatformResult {
  std::optional<oci::Platform> platform;
  std::string snapshot;
  frontend::dockerfile::ConvertResult converted;
  std::unique_ptr<solver::ops::Worker> worker;
  std::vector<solver::SolvedVertex> vertices;
  std::string cache_key;  // the result's
  // What the build attests about this result (provenance.h), attached by the exporters: image
  // outputs add an attestation manifest per platform to the image index (an index is made for a
  // single platform too; inline-only attestations only where images are stored, image and
  // registry, or the image is an index anyway); local and tar outputs add each attestation that
  // is not inline-only as a file (`provenance.json`) whose subjects are the output's files.
  std::vector<exporter::Attestation> attestations;
  // Max provenance: its steps and their results, so that an image export adds the layers each
  // step's result is (provenance.h).
  std::optional<ProvenanceSteps> provenance_steps;
};

struct ExportResult {
  std::optional<oci::Descriptor> root;    // the image (manifest or index) exported
  std::optional<oci::Descriptor> config;  // single-platform images only
  std::vector<content::LayoutName> names;
  // For image outputs: the names as references (`image.name` in the response).
  std::vector<std::string> image_names;
};

// Checks what can be checked before building: known types, names for pushes.
Status ValidateExporter(const TypedAttrs& exporter);

// Runs one exporter over the results. `epoch` is SOURCE_DATE_EPOCH. Files, trees and layout
// blobs go to the outputs the client attached to `session` (never to a path the engine
// chooses); images go into the engine and, pushed, to registries.
Result<ExportResult> Export(const EngineParts& engine, const std::vector<PlatformResult>& results,
                            const TypedAttrs& exporter, std::optional<int64_t> epoch,
                            session::Session& session, progress::ProgressWriter* progress,
                            CancelContext* cancel);

// Pushes `root` to every name, showing one row per blob under the step `step`.
Status PushToRegistry(const EngineParts& engine, progress::ProgressWriter* progress,
                      const std::string& step, const oci::Descriptor& root,
                      const std::vector<oci::Reference>& refs, bool by_digest);

// The exporter response keys BuildKit sets for an image: containerimage.digest,
// containerimage.config.digest, containerimage.descriptor (base64 of its JSON), image.name.
void AddExporterResponse(const ExportResult& r, std::map<std::string, std::string>* response);

// Mounts a read-only view of the committed snapshot `snapshot_name` in a directory of its own
// and calls fn with that directory; unmounts and removes the view after.
Status WithSnapshotView(solver::ops::Worker& worker, const std::string& snapshot_name,
                        const std::function<Status(const std::string& dir)>& fn);

}  // namespace hoist::control
