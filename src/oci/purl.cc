#include "oci/purl.h"

#include <fmt/format.h>

namespace hoist::oci {
namespace {

// What Go's url.PathEscape leaves alone besides unreserved characters, less `@`, which the spec
// wants encoded (`pkg:npm/%40babel/core`).
constexpr std::string_view kPathKeep = "$&+:=";

bool Unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

std::string Escape(std::string_view s, std::string_view keep) {
  std::string out;
  for (char c : s) {
    if (Unreserved(c) || keep.find(c) != std::string_view::npos) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

}  // namespace

std::string PackageURL::String() const {
  std::string out = "pkg:" + type + "/";
  if (!namespace_.empty()) {
    for (size_t from = 0; from <= namespace_.size();) {
      size_t slash = namespace_.find('/', from);
      if (slash == std::string::npos) slash = namespace_.size();
      if (slash > from) out += Escape(namespace_.substr(from, slash - from), kPathKeep) + "/";
      from = slash + 1;
    }
  }
  out += Escape(name, kPathKeep);
  if (!version.empty()) out += "@" + Escape(version, kPathKeep);
  char sep = '?';
  for (const auto& [k, v] : qualifiers) {
    if (v.empty()) continue;
    out += sep + k + "=" + Escape(v, "");
    sep = '&';
  }
  return out;
}

PackageURL ImagePURL(const Reference& ref, const std::optional<Platform>& platform) {
  PackageURL p{.type = "docker"};
  Reference named = ref;
  if (ref.has_digest()) {
    p.qualifiers["digest"] = ref.digest()->str();
  } else {
    named = TagNameOnly(ref);
  }
  p.version = named.tag();
  const std::string familiar = FamiliarName(named);
  const size_t slash = familiar.rfind('/');
  if (slash == std::string::npos) {
    p.name = familiar;
  } else {
    p.namespace_ = familiar.substr(0, slash);
    p.name = familiar.substr(slash + 1);
  }
  if (platform) p.qualifiers["platform"] = FormatPlatform(Normalize(*platform));
  return p;
}

}  // namespace hoist::oci
