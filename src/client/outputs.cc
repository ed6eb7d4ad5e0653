#include "client/outputs.h"

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "client/output_spec.h"
#include "oci/media_types.h"

namespace hoist::client {
namespace {

Result<bool> TarAttr(const control::TypedAttrs& e) {
  auto it = e.attrs.find("tar");
  if (it == e.attrs.end()) return true;
  return ParseBool("tar", it->second);
}

}  // namespace

Result<AttachedOutputs> AttachOutputs(session::ClientSession& session,
                                      std::vector<control::TypedAttrs>* exporters) {
  AttachedOutputs out;
  int attached = 0;
  for (control::TypedAttrs& e : *exporters) {
    const bool files = e.type == "local" || e.type == "tar" || e.type == "oci" ||
                       e.type == "docker";
    if (!files) continue;
    std::string dest;
    if (auto it = e.attrs.find("dest"); it != e.attrs.end()) {
      dest = it->second;
      e.attrs.erase(it);
    }
    if (++attached > 1) {
      return MakeError(Code::kInvalidArgument,
                       "only one output of type local, tar, oci or docker is supported per build");
    }
    if (e.type == "local") {
      if (dest.empty()) return MakeError(Code::kInvalidArgument, "output type=local needs dest=DIR");
      HOIST_TRY(session.AttachOutputDir(dest));
      continue;
    }
    HOIST_ASSIGN_OR_RETURN(bool tar, TarAttr(e));
    if (!tar) {
      if (e.type == "docker") {
        return MakeError(Code::kInvalidArgument, "output type=docker does not support tar=false");
      }
      if (dest.empty()) {
        return MakeError(Code::kInvalidArgument, "output type=oci,tar=false needs dest=DIR");
      }
      HOIST_TRY(session.AttachOutputLayout(dest));
      std::vector<std::string> names;
      if (auto it = e.attrs.find("name"); it != e.attrs.end()) {
        for (size_t from = 0; from <= it->second.size();) {
          size_t comma = it->second.find(',', from);
          if (comma == std::string::npos) comma = it->second.size();
          if (comma > from) names.push_back(it->second.substr(from, comma - from));
          from = comma + 1;
        }
      }
      // Checked now, before anything is built.
      for (const std::string& n : names) HOIST_TRY(content::LayoutName::Parse(n));
      out.layout_names = std::move(names);
      continue;
    }
    if (dest.empty()) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("output type={} needs dest=FILE (or dest=- for stdout)", e.type));
    }
    if (dest == "-" && ::isatty(STDOUT_FILENO)) {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("dest file is required for {} exporter. refusing to write to "
                                   "console",
                                   e.type));
    }
    HOIST_TRY(session.AttachOutputFile(dest));
  }
  return out;
}

Status FinishOutputs(session::ClientSession& session, const AttachedOutputs& outputs,
                     const std::map<std::string, std::string>& response) {
  if (!outputs.layout_names) return OkStatus();
  auto it = response.find("containerimage.descriptor");
  if (it == response.end()) {
    return MakeError(Code::kInternal, "the engine's response names no image descriptor");
  }
  auto json = Base64Decode(it->second);
  auto j = nlohmann::json::parse(json.value_or(""), nullptr, false);
  if (!json || !j.is_object() || !j.contains("digest") || !j["digest"].is_string()) {
    return MakeError(Code::kInternal, "the engine's image descriptor is not valid");
  }
  HOIST_ASSIGN_OR_RETURN(oci::Digest digest, oci::Digest::Parse(j["digest"].get<std::string>()));
  oci::Descriptor desc{.media_type = j.value("mediaType", std::string(oci::kMediaTypeImageManifest)),
                       .digest = digest,
                       .size = j.value("size", int64_t{0})};
  std::vector<content::LayoutName> names;
  for (const std::string& n : *outputs.layout_names) {
    HOIST_ASSIGN_OR_RETURN(content::LayoutName name, content::LayoutName::Parse(n));
    names.push_back(std::move(name));
  }
  auto layout = session.output_layout();
  if (!layout) return MakeError(Code::kInternal, "no OCI layout output attached");
  // Named only if the engine really wrote it there.
  auto info = layout->store().Info(desc.digest);
  if (!info || info->size != desc.size) {
    return MakeError(Code::kDataLoss,
                     fmt::format("the exported image {} is not in the output layout",
                                 desc.digest.str()));
  }
  return layout->Put(desc, names);
}

}  // namespace hoist::client
