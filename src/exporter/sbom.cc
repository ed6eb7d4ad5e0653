#include "exporter/sbom.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "archive/confined_root.h"
#include "base/hash.h"
#include "base/utf8.h"
#include "base/unique_fd.h"
#include "exporter/image_writer.h"
#include "oci/purl.h"

namespace hoist::exporter {
namespace {

constexpr uint64_t kMaxFile = 64ull << 20;
constexpr int kMaxDepth = 128;

struct Distro {
  std::string id;          // debian, ubuntu, alpine
  std::string version_id;  // 12, 3.18.4
  std::string Qualifier() const {
    return version_id.empty() ? id : id + "-" + version_id;
  }
};

std::string Trim(std::string_view s) { return std::string(TrimSpace(s)); }

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t from = 0; from < text.size();) {
    size_t nl = text.find('\n', from);
    if (nl == std::string_view::npos) nl = text.size();
    out.push_back(text.substr(from, nl - from));
    from = nl + 1;
  }
  return out;
}

// RFC 822-style stanzas (dpkg status, Python METADATA): "Key: value" lines, continuation lines
// starting with a blank, stanzas separated by empty lines. Keys are kept as written.
std::vector<std::map<std::string, std::string>> Stanzas(std::string_view text,
                                                        bool stop_at_first = false) {
  std::vector<std::map<std::string, std::string>> out;
  std::map<std::string, std::string> cur;
  for (std::string_view line : Lines(text)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      if (stop_at_first && !out.empty()) return out;
      continue;
    }
    if (line.front() == ' ' || line.front() == '\t') continue;  // continuation
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    cur.try_emplace(std::string(line.substr(0, colon)), Trim(line.substr(colon + 1)));
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string Get(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? "" : it->second;
}

// A file of the tree by its path from the root; "" when missing, unreadable or too large.
std::string ReadOptional(const std::string& root, const std::string& path) {
  auto r = archive::ReadFileInTree(root, path, kMaxFile);
  return r ? std::move(*r) : std::string();
}

Distro ReadDistro(const std::string& root) {
  std::string text = ReadOptional(root, "etc/os-release");
  if (text.empty()) text = ReadOptional(root, "usr/lib/os-release");
  Distro d;
  for (std::string_view line : Lines(text)) {
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string v = Trim(line.substr(eq + 1));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
      v = v.substr(1, v.size() - 2);
    }
    if (line.substr(0, eq) == "ID") d.id = v;
    if (line.substr(0, eq) == "VERSION_ID") d.version_id = v;
  }
  return d;
}

void AddDpkgStanzas(std::string_view text, const std::string& location, const Distro& distro,
                    bool need_status, std::vector<SbomPackage>* out) {
  for (const auto& s : Stanzas(text)) {
    const std::string name = Get(s, "Package");
    const std::string version = Get(s, "Version");
    if (name.empty() || version.empty()) continue;
    if (need_status) {
      // "want flag state": only what is unpacked and configured is in the image.
      const std::string status = Get(s, "Status");
      const size_t sp = status.rfind(' ');
      if (sp == std::string::npos || status.substr(sp + 1) != "installed") continue;
    }
    SbomPackage p{.type = "deb", .name = name, .version = version,
                  .arch = Get(s, "Architecture"), .supplier = Get(s, "Maintainer"),
                  .location = location};
    const std::string ns = distro.id.empty() ? "debian" : distro.id;
    oci::PackageURL u{.type = "deb", .namespace_ = ns, .name = name, .version = version};
    u.qualifiers["arch"] = p.arch;
    if (!distro.id.empty()) u.qualifiers["distro"] = distro.Qualifier();
    p.purl = u.String();
    out->push_back(std::move(p));
  }
}

void ScanApk(const std::string& root, const Distro& distro, std::vector<SbomPackage>* out) {
  const std::string location = "/lib/apk/db/installed";
  const std::string text = ReadOptional(root, location);
  std::map<char, std::string> cur;
  auto flush = [&] {
    if (!cur['P'].empty() && !cur['V'].empty()) {
      SbomPackage p{.type = "apk", .name = cur['P'], .version = cur['V'], .arch = cur['A'],
                    .supplier = cur['m'], .license = cur['L'], .location = location};
      oci::PackageURL u{.type = "apk", .namespace_ = distro.id.empty() ? "alpine" : distro.id,
                        .name = p.name, .version = p.version};
      u.qualifiers["arch"] = p.arch;
      if (!distro.id.empty()) u.qualifiers["distro"] = distro.Qualifier();
      p.purl = u.String();
      out->push_back(std::move(p));
    }
    cur.clear();
  };
  for (std::string_view line : Lines(text)) {
    if (line.empty()) {
      flush();
      continue;
    }
    if (line.size() >= 2 && line[1] == ':') cur[line[0]] = Trim(line.substr(2));
  }
  flush();
}

std::string NpmLicense(const nlohmann::json& j) {
  auto it = j.find("license");
  if (it == j.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("type") && (*it)["type"].is_string()) {
    return (*it)["type"].get<std::string>();
  }
  return "";
}

SbomPackage NpmPackage(const std::string& name, const std::string& version,
                       const std::string& license, const std::string& location) {
  SbomPackage p{.type = "npm", .name = name, .version = version, .license = license,
                .location = location};
  oci::PackageURL u{.type = "npm", .name = name, .version = version};
  if (name.starts_with('@') && name.find('/') != std::string::npos) {
    u.namespace_ = name.substr(0, name.find('/'));
    u.name = name.substr(name.find('/') + 1);
  }
  p.purl = u.String();
  return p;
}

void AddNpmManifest(std::string_view text, const std::string& location,
                    std::vector<SbomPackage>* out) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  if (!j.contains("name") || !j["name"].is_string() || !j.contains("version") ||
      !j["version"].is_string()) {
    return;
  }
  out->push_back(NpmPackage(j["name"].get<std::string>(), j["version"].get<std::string>(),
                            NpmLicense(j), location));
}

void AddNpmLockV1(const nlohmann::json& deps, const std::string& location, int depth,
                  std::vector<SbomPackage>* out) {
  if (!deps.is_object() || depth > kMaxDepth) return;
  for (const auto& [name, d] : deps.items()) {
    if (!d.is_object()) continue;
    if (d.contains("version") && d["version"].is_string()) {
      out->push_back(NpmPackage(name, d["version"].get<std::string>(), "", location));
    }
    if (d.contains("dependencies")) AddNpmLockV1(d["dependencies"], location, depth + 1, out);
  }
}

void AddNpmLock(std::string_view text, const std::string& location,
                std::vector<SbomPackage>* out) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  if (j.contains("packages") && j["packages"].is_object()) {
    for (const auto& [key, d] : j["packages"].items()) {
      const size_t at = key.rfind("node_modules/");
      if (at == std::string::npos || !d.is_object()) continue;  // "" is the project itself
      if (d.value("link", false)) continue;
      if (!d.contains("version") || !d["version"].is_string()) continue;
      std::string name = key.substr(at + 13);
      if (d.contains("name") && d["name"].is_string()) name = d["name"].get<std::string>();
      out->push_back(NpmPackage(name, d["version"].get<std::string>(), NpmLicense(d), location));
    }
    return;
  }
  if (j.contains("dependencies")) AddNpmLockV1(j["dependencies"], location, 0, out);
}

void AddPythonMetadata(std::string_view text, const std::string& location,
                       std::vector<SbomPackage>* out) {
  const auto stanzas = Stanzas(text, true);
  if (stanzas.empty()) return;
  const std::string name = Get(stanzas[0], "Name");
  const std::string version = Get(stanzas[0], "Version");
  if (name.empty() || version.empty()) return;
  // PEP 503 normalisation, as pypi purls use.
  std::string norm;
  for (char c : name) {
    const char n = (c == '_' || c == '.') ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == '-' && !norm.empty() && norm.back() == '-') continue;
    norm += n;
  }
  SbomPackage p{.type = "pypi", .name = name, .version = version,
                .license = Get(stanzas[0], "License"), .location = location};
  p.purl = oci::PackageURL{.type = "pypi", .name = norm, .version = version}.String();
  out->push_back(std::move(p));
}

// yarn.lock, classic (`version "1.2.3"`) and berry (`version: 1.2.3`): one entry per
// resolved package, headed by the specs it satisfies (`"@s/p@^1", "@s/p@^1.1":`).
void AddYarnLock(std::string_view text, const std::string& location,
                 std::vector<SbomPackage>* out) {
  std::string name;
  for (std::string_view line : Lines(text)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (line.front() != ' ') {
      name.clear();
      if (line.back() != ':') continue;
      std::string spec = Trim(line.substr(0, line.find(',') == std::string_view::npos
                                                   ? line.size() - 1
                                                   : line.find(',')));
      if (spec.size() >= 2 && spec.front() == '"' && spec.back() == '"') {
        spec = spec.substr(1, spec.size() - 2);
      }
      const size_t at = spec.find('@', 1);  // a scope's own @ is the first character
      if (at == std::string::npos || spec.starts_with("__")) continue;
      // Workspaces and links are the project's own code, not packages.
      if (spec.find("@workspace:", at) == at || spec.find("@link:", at) == at ||
          spec.find("@portal:", at) == at) {
        continue;
      }
      name = spec.substr(0, at);
      continue;
    }
    const std::string t = Trim(line);
    if (name.empty() || !t.starts_with("version")) continue;
    std::string v = Trim(std::string_view(t).substr(7));
    if (!v.empty() && v.front() == ':') v = Trim(std::string_view(v).substr(1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    if (!v.empty()) out->push_back(NpmPackage(name, v, "", location));
    name.clear();
  }
}

// Gemfile.lock: the gems of its GEM section's specs (`    name (version[-platform])`, four
// spaces in; their dependencies are six).
void AddGemfileLock(std::string_view text, const std::string& location,
                    std::vector<SbomPackage>* out) {
  bool in_gem = false, in_specs = false;
  for (std::string_view line : Lines(text)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() != ' ') {
      in_gem = line == "GEM";
      in_specs = false;
      continue;
    }
    if (!in_gem) continue;
    if (Trim(line) == "specs:") {
      in_specs = true;
      continue;
    }
    if (!in_specs || line.size() < 5 || line.substr(0, 4) != "    " || line[4] == ' ') continue;
    const size_t open = line.find(" (");
    if (open == std::string_view::npos || line.back() != ')') continue;
    const std::string name(line.substr(4, open - 4));
    const std::string version(line.substr(open + 2, line.size() - open - 3));
    if (name.empty() || version.empty()) continue;
    SbomPackage p{.type = "gem", .name = name, .version = version, .location = location};
    p.purl = oci::PackageURL{.type = "gem", .name = name, .version = version}.String();
    out->push_back(std::move(p));
  }
}

// composer.lock: `packages` and `packages-dev`, named vendor/package.
void AddComposerLock(std::string_view text, const std::string& location,
                     std::vector<SbomPackage>* out) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;
  for (const char* list : {"packages", "packages-dev"}) {
    if (!j.contains(list) || !j[list].is_array()) continue;
    for (const auto& pkg : j[list]) {
      if (!pkg.is_object() || !pkg.contains("name") || !pkg["name"].is_string() ||
          !pkg.contains("version") || !pkg["version"].is_string()) {
        continue;
      }
      const std::string name = pkg["name"].get<std::string>();
      const std::string version = pkg["version"].get<std::string>();
      if (name.empty() || version.empty()) continue;
      std::string license;
      if (pkg.contains("license") && pkg["license"].is_array()) {
        for (const auto& l : pkg["license"]) {
          if (l.is_string()) license += (license.empty() ? "" : " OR ") + l.get<std::string>();
        }
      }
      SbomPackage p{.type = "composer", .name = name, .version = version, .license = license,
                    .location = location};
      oci::PackageURL u{.type = "composer", .name = name, .version = version};
      if (const size_t slash = name.find('/'); slash != std::string::npos) {
        u.namespace_ = name.substr(0, slash);
        u.name = name.substr(slash + 1);
      }
      p.purl = u.String();
      out->push_back(std::move(p));
    }
  }
}

void AddCargoLock(std::string_view text, const std::string& location,
                  std::vector<SbomPackage>* out) {
  std::string name, version;
  bool in_package = false;
  auto flush = [&] {
    if (in_package && !name.empty() && !version.empty()) {
      SbomPackage p{.type = "cargo", .name = name, .version = version, .location = location};
      p.purl = oci::PackageURL{.type = "cargo", .name = name, .version = version}.String();
      out->push_back(std::move(p));
    }
    name.clear();
    version.clear();
  };
  auto quoted = [](std::string_view v) -> std::string {
    std::string t = Trim(v);
    if (t.size() >= 2 && t.front() == '"' && t.back() == '"') return t.substr(1, t.size() - 2);
    return "";
  };
  for (std::string_view line : Lines(text)) {
    const std::string t = Trim(line);
    if (t.starts_with('[')) {
      flush();
      in_package = t == "[[package]]";
      continue;
    }
    const size_t eq = t.find('=');
    if (!in_package || eq == std::string::npos) continue;
    const std::string key = Trim(std::string_view(t).substr(0, eq));
    if (key == "name") name = quoted(std::string_view(t).substr(eq + 1));
    if (key == "version") version = quoted(std::string_view(t).substr(eq + 1));
  }
  flush();
}

// A regular file in `dir`, not followed if a symlink; "" when not a readable regular file
// within the size limit.
std::string ReadAt(int dir, const std::string& name) {
  auto r = archive::ReadFileAt(dir, name, name, kMaxFile);
  return r ? std::move(*r) : std::string();
}

// The entries of directory `dir` (names and d_type, "." and ".." left out), sorted by name.
std::vector<std::pair<std::string, unsigned char>> ListDir(int dir) {
  std::vector<std::pair<std::string, unsigned char>> entries;
  UniqueFd dup(::dup(dir));
  if (!dup) return entries;
  DIR* d = ::fdopendir(dup.get());
  if (d == nullptr) return entries;
  dup.Release();
  while (struct dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    entries.emplace_back(e->d_name, e->d_type);
  }
  ::closedir(d);
  std::sort(entries.begin(), entries.end());
  return entries;
}

// Walks the tree for the language ecosystems' files, never following a symlink.
class Walker {
 public:
  explicit Walker(std::vector<SbomPackage>* out) : out_(out) {}

  void Walk(int dir, const std::string& path, int depth) {
    if (depth > kMaxDepth) return;
    const auto entries = ListDir(dir);
    const std::string_view base = Base(path);
    const std::string_view parent = Base(Dir(path));
    const bool in_packages_dir = parent == "site-packages" || parent == "dist-packages";
    for (const auto& [name, type] : entries) {
      const std::string child = path + "/" + name;
      if (type == DT_DIR || type == DT_UNKNOWN) {
        if (depth == 0 && (name == "proc" || name == "sys" || name == "dev")) continue;
        UniqueFd sub(::openat(dir, name.c_str(),
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub) {
          Walk(sub.get(), child, depth + 1);
          continue;
        }
        if (type == DT_DIR) continue;
      }
      if (type != DT_REG && type != DT_UNKNOWN) continue;
      if (name == "package.json" && IsNodeModule(path)) {
        AddNpmManifest(ReadAt(dir, name), child, out_);
      } else if (name == "package-lock.json" && base != "node_modules") {
        AddNpmLock(ReadAt(dir, name), child, out_);
      } else if (name == "Cargo.lock") {
        AddCargoLock(ReadAt(dir, name), child, out_);
      } else if (name == "yarn.lock") {
        AddYarnLock(ReadAt(dir, name), child, out_);
      } else if (name == "Gemfile.lock") {
        AddGemfileLock(ReadAt(dir, name), child, out_);
      } else if (name == "composer.lock") {
        AddComposerLock(ReadAt(dir, name), child, out_);
      } else if (in_packages_dir && ((name == "METADATA" && base.ends_with(".dist-info")) ||
                                     (name == "PKG-INFO" && base.ends_with(".egg-info")))) {
        AddPythonMetadata(ReadAt(dir, name), child, out_);
      }
    }
  }

 private:
  static std::string_view Base(std::string_view p) {
    const size_t s = p.rfind('/');
    return s == std::string_view::npos ? p : p.substr(s + 1);
  }
  static std::string_view Dir(std::string_view p) {
    const size_t s = p.rfind('/');
    return s == std::string_view::npos ? std::string_view() : p.substr(0, s);
  }
  // `.../node_modules/NAME` or `.../node_modules/@scope/NAME`.
  static bool IsNodeModule(std::string_view dir) {
    const std::string_view parent = Dir(dir);
    if (Base(parent) == "node_modules") return true;
    return Base(parent).starts_with('@') && Base(Dir(parent)) == "node_modules";
  }

  std::vector<SbomPackage>* out_;
};

std::string SpdxId(std::string_view prefix, const SbomPackage& p) {
  std::string id(prefix);
  for (char c : p.type + "-" + p.name) {
    id += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') ? c : '-';
  }
  return id + "-" + Sha256Hex(p.purl + "\n" + p.location).substr(0, 16);
}

}  // namespace

Result<std::vector<SbomPackage>> ScanPackages(const std::string& root) {
  std::vector<SbomPackage> found;
  const Distro distro = ReadDistro(root);
  const std::string status = "/var/lib/dpkg/status";
  AddDpkgStanzas(ReadOptional(root, status), status, distro, true, &found);
  ScanApk(root, distro, &found);
  UniqueFd top(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!top) return Unexpected(ErrnoError(errno, "sbom: open the image's filesystem"));
  // Distroless images keep one control stanza per package here, without a Status field.
  if (UniqueFd d(::openat(top.get(), "var/lib/dpkg/status.d",
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      d) {
    std::vector<std::string> names;
    for (const auto& [n, type] : ListDir(d.get())) {
      if (type == DT_REG || type == DT_UNKNOWN) names.push_back(n);
    }
    for (const std::string& n : names) {
      if (n.ends_with(".md5sums")) continue;
      AddDpkgStanzas(ReadAt(d.get(), n), "/var/lib/dpkg/status.d/" + n, distro, false,
                     &found);
    }
  }
  Walker(&found).Walk(top.get(), "", 0);
  // One entry per purl: the first place it was found.
  std::vector<SbomPackage> out;
  std::set<std::string> seen;
  for (SbomPackage& p : found) {
    if (seen.insert(p.purl).second) out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(), [](const SbomPackage& a, const SbomPackage& b) {
    return std::tie(a.type, a.name, a.version, a.purl) < std::tie(b.type, b.name, b.version, b.purl);
  });
  return out;
}

std::string SpdxDocument(const std::vector<SbomPackage>& packages, const SpdxOptions& options) {
  using json = nlohmann::ordered_json;
  const std::string image_id = "SPDXRef-Image";
  json pkgs = json::array();
  json rels = json::array();
  pkgs.push_back({{"name", options.name},
                  {"SPDXID", image_id},
                  {"downloadLocation", "NOASSERTION"},
                  {"filesAnalyzed", false},
                  {"licenseConcluded", "NOASSERTION"},
                  {"licenseDeclared", "NOASSERTION"},
                  {"copyrightText", "NOASSERTION"},
                  {"primaryPackagePurpose", "CONTAINER"}});
  rels.push_back({{"spdxElementId", "SPDXRef-DOCUMENT"},
                  {"relationshipType", "DESCRIBES"},
                  {"relatedSpdxElement", image_id}});
  for (const SbomPackage& p : packages) {
    const std::string id = SpdxId("SPDXRef-Package-", p);
    json j = {{"name", p.name},
              {"SPDXID", id},
              {"versionInfo", p.version},
              {"supplier", p.supplier.empty() ? "NOASSERTION" : "Person: " + p.supplier},
              {"downloadLocation", "NOASSERTION"},
              {"filesAnalyzed", false},
              {"licenseConcluded", "NOASSERTION"},
              {"licenseDeclared", "NOASSERTION"},
              {"copyrightText", "NOASSERTION"},
              {"sourceInfo", fmt::format("{} package found in {}", p.type, p.location)}};
    if (!p.license.empty()) j["licenseComments"] = "declared: " + p.license;
    j["externalRefs"] = json::array({{{"referenceCategory", "PACKAGE-MANAGER"},
                                      {"referenceType", "purl"},
                                      {"referenceLocator", p.purl}}});
    pkgs.push_back(std::move(j));
    rels.push_back({{"spdxElementId", image_id},
                    {"relationshipType", "CONTAINS"},
                    {"relatedSpdxElement", id}});
  }
  const std::string created = FormatTimestamp(options.created);
  const std::string ns_seed = options.name + "\n" + created + "\n" + pkgs.dump(-1, ' ', false, json::error_handler_t::replace);
  json doc = {{"spdxVersion", "SPDX-2.3"},
              {"dataLicense", "CC0-1.0"},
              {"SPDXID", "SPDXRef-DOCUMENT"},
              {"name", options.name},
              {"documentNamespace", "https://spdx.org/spdxdocs/hoist-" + Sha256Hex(ns_seed).substr(0, 32)},
              {"creationInfo", {{"created", created}, {"creators", json::array({"Tool: hoist"})}}},
              {"packages", std::move(pkgs)},
              {"relationships", std::move(rels)}};
  // Package databases are the image's: bytes that are not UTF-8 become U+FFFD.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace hoist::exporter
