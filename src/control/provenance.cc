#include "control/provenance.h"

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <type_traits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/csv.h"
#include "base/hash.h"
#include "control/attrs.h"
#include "exporter/image_writer.h"
#include "frontend/dockerfile/convert.h"
#include "llb/dump.h"
#include "oci/platform.h"
#include "oci/purl.h"
#include "oci/reference.h"
#include "source/git_source.h"

namespace hoist::control {
namespace {

using json = nlohmann::ordered_json;

constexpr std::string_view kBuildType = "https://mobyproject.org/buildkit@v1";

// Compact JSON; bytes that are not UTF-8 (a build argument can hold any) become U+FFFD.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// BuildKit's wire values `mode=max,inline-only=true` as a map; keys as given.
Result<std::map<std::string, std::string>> ParseCsvAttrs(std::string_view type,
                                                         std::string_view value) {
  std::map<std::string, std::string> out;
  if (value.empty()) return out;
  auto fields = SplitCsv(value);
  if (!fields) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("failed to parse {}: {}", type, fields.error().message()));
  }
  for (const std::string& f : *fields) {
    const size_t eq = f.find('=');
    out[f.substr(0, eq)] = eq == std::string::npos ? "" : f.substr(eq + 1);
  }
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// RFC 3339 with nanoseconds, as Go marshals a time.Time: 2026-12-04T07:36:02.123456789Z (the
// fraction without trailing zeros, none when whole).
std::string FormatNanos(int64_t ns) {
  std::string out = exporter::FormatTimestamp(ns / 1000000000);  // ...:SSZ
  if (const int64_t frac = ns % 1000000000; frac != 0) {
    std::string f = fmt::format("{:09}", frac);
    while (f.back() == '0') f.pop_back();
    out.insert(out.size() - 1, "." + f);
  }
  return out;
}

// A remote URL without credentials (a git context's may carry a token).
std::string RedactContext(const std::string& v) {
  for (std::string_view scheme : {"http://", "https://", "git://", "ssh://"}) {
    if (v.starts_with(scheme)) return source::RedactGitURL(v);
  }
  return v;
}

// A context attribute's value as provenance records it: credentials removed, and a layout
// context's session-scoped store ID (`oci-layout://<store>@sha256:…`) replaced by the context's
// name, so that the same build records the same value.
std::string ContextValue(const std::string& key, const std::string& v) {
  constexpr std::string_view kLayout = "oci-layout://";
  if (v.starts_with(kLayout) && key.starts_with("context:")) {
    const size_t at = v.find('@');
    if (at != std::string::npos) return std::string(kLayout) + key.substr(8) + v.substr(at);
    return v;
  }
  return RedactContext(v);
}

// The frontend's attributes as provenance shows them: host-specific keys and attestation
// requests left out, credentials removed from context URLs.
std::map<std::string, std::string> FilterArgs(const Attrs& attrs) {
  static const std::set<std::string> kHostSpecific = {"cgroup-parent", "image-resolve-mode",
                                                      "platform", "cache-imports"};
  std::string context_key = StringAttr(attrs, "contextkey", "context");
  if (context_key.empty()) context_key = "context";
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : attrs) {
    if (kHostSpecific.contains(k) || k.starts_with("attest:")) continue;
    if (k.starts_with("build-arg:BUILDKIT_ATTEST_")) continue;
    out[k] = (k == context_key || k.starts_with("context:")) ? ContextValue(k, v) : v;
  }
  return out;
}

struct Material {
  std::string uri;
  std::string algorithm;
  std::string hex;
  friend bool operator==(const Material&, const Material&) = default;
};

// What the solved graph tells provenance.
struct Capture {
  std::vector<Material> images;
  std::vector<Material> local_images;
  std::vector<Material> git;
  std::vector<Material> http;
  std::vector<std::string> locals;
  std::vector<std::pair<std::string, bool>> secrets;  // id, optional
  std::vector<std::pair<std::string, bool>> ssh;
  bool network = false;
  std::map<std::string, std::string> git_urls;  // URL#ref → commit, for configSource
};

template <typename T>
void AddUnique(std::vector<T>* v, std::type_identity_t<T> x) {
  for (const T& y : *v) {
    if (y == x) return;
  }
  v->push_back(std::move(x));
}

std::optional<Material> DigestMaterial(std::string uri, std::string_view digest) {
  auto d = oci::Digest::Parse(digest);
  if (!d) return std::nullopt;
  return Material{std::move(uri), std::string(d->algorithm()), std::string(d->encoded())};
}

// One op of the graph, from its `buildctl debug dump-llb` line.
struct OpLine {
  json op;  // the pb.Op as JSON
  oci::Digest digest;
  std::vector<std::pair<oci::Digest, int64_t>> inputs;
};

Result<std::vector<OpLine>> OpLines(const llb::Definition& def) {
  HOIST_ASSIGN_OR_RETURN(std::string dump, llb::DumpLLB(def));
  std::vector<OpLine> out;
  for (size_t from = 0; from < dump.size();) {
    size_t nl = dump.find('\n', from);
    if (nl == std::string::npos) nl = dump.size();
    json line = json::parse(dump.substr(from, nl - from), nullptr, false);
    from = nl + 1;
    if (line.is_discarded() || !line.is_object()) {
      return MakeError(Code::kInternal, "provenance: an LLB op did not dump as JSON");
    }
    OpLine o;
    o.op = line["Op"];
    HOIST_ASSIGN_OR_RETURN(o.digest, oci::Digest::Parse(line.value("Digest", "")));
    if (o.op.contains("inputs")) {
      for (const json& in : o.op["inputs"]) {
        HOIST_ASSIGN_OR_RETURN(oci::Digest d, oci::Digest::Parse(in.value("digest", "")));
        o.inputs.emplace_back(d, in.value("index", int64_t{0}));
      }
    }
    out.push_back(std::move(o));
  }
  return out;
}

std::optional<oci::Platform> OpPlatform(const json& op) {
  if (!op.contains("platform") || !op["platform"].is_object()) return std::nullopt;
  const json& p = op["platform"];
  return oci::Platform{.os = p.value("OS", ""), .architecture = p.value("Architecture", ""),
                       .variant = p.value("Variant", "")};
}

Result<Capture> CaptureGraph(const std::vector<OpLine>& ops,
                             const std::vector<solver::SolvedVertex>& vertices) {
  std::map<oci::Digest, std::string> pins;
  for (const solver::SolvedVertex& v : vertices) {
    if (!v.pin.empty()) pins[v.digest] = v.pin;
  }
  Capture c;
  for (const OpLine& o : ops) {
    const json& body = o.op.contains("Op") ? o.op["Op"] : json::object();
    if (body.contains("source")) {
      const json& src = body["source"];
      const std::string id = src.value("identifier", "");
      const json attrs = src.contains("attrs") ? src["attrs"] : json::object();
      const std::string pin = pins.contains(o.digest) ? pins[o.digest] : "";
      const bool layout = id.starts_with("oci-layout://");
      if (layout || id.starts_with("docker-image://")) {
        auto ref = oci::ParseNormalizedNamed(id.substr(id.find("://") + 3));
        if (!ref) continue;
        // The digest the source resolved to, else the one its reference names.
        std::string digest = pin;
        if (digest.empty() && ref->has_digest()) digest = ref->digest()->str();
        // A layout's image goes by the reference the frontend made up for it: the store is the
        // client's and its path never reaches the engine.
        auto m = DigestMaterial(
            layout ? ref->String() : oci::ImagePURL(*ref, OpPlatform(o.op)).String(), digest);
        if (m) AddUnique(layout ? &c.local_images : &c.images, *m);
      } else if (id.starts_with("local://")) {
        AddUnique(&c.locals, id.substr(8));
      } else if (id.starts_with("git://")) {
        std::map<std::string, std::string> a;
        for (const auto& [k, v] : attrs.items()) {
          if (v.is_string()) a[k] = v.get<std::string>();
        }
        auto g = source::ParseGitIdentifier(id, a);
        if (!g) continue;
        std::string url = source::RedactGitURL(g->remote);
        if (!g->ref.empty()) url += "#" + g->ref;
        if (!pin.empty()) {
          AddUnique(&c.git, Material{url, "sha1", pin});
          c.git_urls[url] = pin;
        }
        if (!g->auth_token_secret.empty()) AddUnique(&c.secrets, {g->auth_token_secret, true});
        if (!g->auth_header_secret.empty()) AddUnique(&c.secrets, {g->auth_header_secret, true});
        if (!g->ssh_id.empty()) AddUnique(&c.ssh, {g->ssh_id, true});
      } else if (id.starts_with("https://") || id.starts_with("http://")) {
        if (auto m = DigestMaterial(id, pin)) AddUnique(&c.http, *m);
      }
    } else if (body.contains("exec")) {
      const json& ex = body["exec"];
      if (ex.contains("mounts")) {
        for (const json& m : ex["mounts"]) {
          const int64_t type = m.value("mountType", int64_t{0});
          if (type == 1 && m.contains("secretOpt")) {  // SECRET
            AddUnique(&c.secrets, {m["secretOpt"].value("ID", ""),
                                   m["secretOpt"].value("optional", false)});
          } else if (type == 2 && m.contains("SSHOpt")) {  // SSH
            AddUnique(&c.ssh, {m["SSHOpt"].value("ID", ""), m["SSHOpt"].value("optional", false)});
          }
        }
      }
      if (ex.contains("secretenv")) {
        for (const json& s : ex["secretenv"]) {
          AddUnique(&c.secrets, {s.value("ID", ""), s.value("optional", false)});
        }
      }
      if (ex.value("network", int64_t{0}) != 2) c.network = true;  // not NONE
    }
  }
  return c;
}

json MaterialsJson(const Capture& c) {
  json out = json::array();
  for (const auto* list : {&c.images, &c.git, &c.http, &c.local_images}) {
    for (const Material& m : *list) {
      out.push_back({{"uri", m.uri}, {"digest", {{m.algorithm, m.hex}}}});
    }
  }
  return out;
}

// BuildKit's buildConfig: the ops reached from the result, dependencies first (depth first
// from the last op), named step0…, with local session attributes left out.
struct Steps {
  json definition = json::array();
  std::map<oci::Digest, size_t> index;
};

Result<Steps> BuildSteps(const std::vector<OpLine>& ops) {
  Steps s;
  if (ops.empty()) return s;
  std::map<oci::Digest, const OpLine*> by_digest;
  for (const OpLine& o : ops) by_digest[o.digest] = &o;
  std::vector<const OpLine*> order;
  std::set<oci::Digest> visited;
  std::function<Status(const oci::Digest&, int)> walk = [&](const oci::Digest& d,
                                                            int depth) -> Status {
    if (visited.contains(d)) return OkStatus();
    auto it = by_digest.find(d);
    if (it == by_digest.end() || depth > 10000) {
      return MakeError(Code::kInternal, fmt::format("provenance: no op {}", d.str()));
    }
    visited.insert(d);
    for (const auto& [in, unused] : it->second->inputs) HOIST_TRY(walk(in, depth + 1));
    order.push_back(it->second);
    return OkStatus();
  };
  HOIST_TRY(walk(ops.back().digest, 0));
  for (size_t i = 0; i < order.size(); ++i) s.index[order[i]->digest] = i;
  for (size_t i = 0; i < order.size(); ++i) {
    json op = order[i]->op;
    op.erase("inputs");
    if (op.contains("Op") && op["Op"].contains("source") && op["Op"]["source"].contains("attrs")) {
      json& attrs = op["Op"]["source"]["attrs"];
      // Session-scoped IDs, different in every build.
      for (const char* k : {"local.session", "local.unique", "oci.session", "oci.store"}) {
        attrs.erase(k);
      }
      if (attrs.empty()) op["Op"]["source"].erase("attrs");
    }
    json step = {{"id", fmt::format("step{}", i)}, {"op", std::move(op)}};
    if (!order[i]->inputs.empty()) {
      json inputs = json::array();
      for (const auto& [in, idx] : order[i]->inputs) {
        inputs.push_back(fmt::format("step{}:{}", s.index[in], idx));
      }
      step["inputs"] = std::move(inputs);
    }
    s.definition.push_back(std::move(step));
  }
  return s;
}

// The Dockerfile as BuildKit's source info, with each step's lines.
json SourceJson(const ProvenanceInput& in, const Steps& steps) {
  std::map<std::string, json> by_step;  // sorted by key, as Go writes a map
  for (const auto& [digest, meta] : in.definition->metadata) {
    auto it = steps.index.find(digest);
    const auto lines = frontend::dockerfile::DockerfileLines(meta);
    if (it == steps.index.end() || !lines) continue;
    const auto [start, end] = *lines;
    by_step[fmt::format("step{}", it->second)] = {
        {"locations",
         json::array({{{"ranges", json::array({{{"start", {{"line", start}}},
                                                {"end", {{"line", end}}}}})}}})}};
  }
  json locations = json::object();
  for (auto& [k, v] : by_step) locations[k] = std::move(v);
  json info = {{"filename", in.dockerfile_name}, {"data", Base64Encode(in.dockerfile)}};
  return {{"locations", std::move(locations)}, {"infos", json::array({std::move(info)})}};
}

// The steps' bases and results, for AddProvenanceLayers (see ProvenanceSteps).
ProvenanceSteps StepsOf(const std::vector<OpLine>& ops, const Steps& steps,
                        const std::vector<solver::SolvedVertex>& vertices) {
  ProvenanceSteps out;
  auto key = [&](const oci::Digest& d, int64_t output) -> std::string {
    auto it = steps.index.find(d);
    return it == steps.index.end() ? "" : fmt::format("step{}:{}", it->second, output);
  };
  for (const solver::SolvedVertex& v : vertices) {
    for (size_t j = 0; j < v.result_ids.size(); ++j) {
      const std::string k = key(v.digest, static_cast<int64_t>(j));
      if (!k.empty() && !v.result_ids[j].empty()) out.results[k] = v.result_ids[j];
    }
  }
  if (ops.empty() || ops.back().inputs.size() != 1) return out;
  out.head = key(ops.back().inputs[0].first, ops.back().inputs[0].second);
  for (const OpLine& o : ops) {
    const json& body = o.op.contains("Op") ? o.op["Op"] : json::object();
    std::optional<int64_t> output, input;
    if (body.contains("exec") && body["exec"].contains("mounts")) {
      for (const json& m : body["exec"]["mounts"]) {
        if (m.value("dest", "") != "/") continue;
        output = m.value("output", int64_t{0});
        input = m.value("input", int64_t{0});
      }
    } else if (body.contains("file") && body["file"].contains("actions")) {
      const json& actions = body["file"]["actions"];
      const int64_t n_inputs = static_cast<int64_t>(o.inputs.size());
      for (const json& a : actions) {
        if (a.value("output", int64_t{0}) < 0) continue;
        output = a.value("output", int64_t{0});
        // An action's input past the op's inputs is an earlier action's result.
        int64_t in = a.value("input", int64_t{0});
        for (int hops = 0; in >= n_inputs && in - n_inputs < static_cast<int64_t>(actions.size()) &&
                           hops < 1000;
             ++hops) {
          in = actions[static_cast<size_t>(in - n_inputs)].value("input", int64_t{0});
        }
        input = in;
        break;
      }
    }
    if (!output || !input || *input < 0 || *input >= static_cast<int64_t>(o.inputs.size())) {
      continue;
    }
    const auto& [in_digest, in_output] = o.inputs[static_cast<size_t>(*input)];
    const std::string from = key(o.digest, *output), to = key(in_digest, in_output);
    if (!from.empty() && !to.empty()) out.base[from] = to;
  }
  return out;
}

}  // namespace

Result<AttestRequest> ParseAttestRequest(const Attrs& frontend_attrs) {
  std::map<std::string, std::string> values;
  for (const auto& [k, v] : frontend_attrs) {
    if (k.starts_with("attest:")) values[Lower(k.substr(7))] = v;
    if (k.starts_with("build-arg:BUILDKIT_ATTEST_")) values[Lower(k.substr(26))] = v;
  }
  AttestRequest out;
  for (const auto& [type, value] : values) {
    if (type != "provenance" && type != "sbom") {
      return MakeError(Code::kInvalidArgument,
                       fmt::format("unknown attestation type \"{}\"", type));
    }
    HOIST_ASSIGN_OR_RETURN(auto attrs, ParseCsvAttrs(type, value));
    if (auto it = attrs.find("enabled"); it != attrs.end()) {
      HOIST_ASSIGN_OR_RETURN(bool on, ParseBool("attest:" + type + " enabled", it->second));
      if (!on) continue;
    }
    if (type == "sbom") {
      out.sbom = SbomRequest{.generator = attrs.contains("generator") ? attrs["generator"] : ""};
      continue;
    }
    ProvenanceRequest p;
    if (auto it = attrs.find("mode"); it != attrs.end()) {
      if (it->second == "min") {
        p.max = false;
      } else if (it->second != "max" && it->second != "full") {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("attest:provenance: invalid mode \"{}\" (min or max)",
                                     it->second));
      }
    }
    if (auto it = attrs.find("inline-only"); it != attrs.end()) {
      // As BuildKit: anything but a true value leaves it off.
      auto b = ParseBool("inline-only", it->second);
      p.inline_only = b && *b;
    }
    if (auto it = attrs.find("reproducible"); it != attrs.end()) {
      HOIST_ASSIGN_OR_RETURN(p.reproducible,
                             ParseBool("attest:provenance reproducible", it->second));
    }
    if (auto it = attrs.find("builder-id"); it != attrs.end()) p.builder_id = it->second;
    if (auto it = attrs.find("filename"); it != attrs.end() && !it->second.empty()) {
      if (it->second.find('/') != std::string::npos || it->second == "." || it->second == "..") {
        return MakeError(Code::kInvalidArgument,
                         fmt::format("attest:provenance: invalid filename \"{}\"", it->second));
      }
      p.filename = it->second;
    }
    out.provenance = p;
  }
  return out;
}

Result<std::string> ProvenancePredicate(const ProvenanceRequest& request,
                                        const ProvenanceInput& in, ProvenanceSteps* steps_out) {
  HOIST_ASSIGN_OR_RETURN(std::vector<OpLine> ops, OpLines(*in.definition));
  HOIST_ASSIGN_OR_RETURN(Capture c, CaptureGraph(ops, *in.vertices));
  if (in.dockerfile_local) AddUnique(&c.locals, std::string("dockerfile"));

  std::map<std::string, std::string> args = FilterArgs(in.frontend_attrs);
  json config_source = json::object();
  std::string context_key = StringAttr(in.frontend_attrs, "contextkey", "context");
  if (context_key.empty()) context_key = "context";
  if (auto it = args.find(context_key); it != args.end() && !it->second.empty()) {
    config_source["uri"] = it->second;
    if (auto g = c.git_urls.find(it->second); g != c.git_urls.end()) {
      config_source["digest"] = {{"sha1", g->second}};
    }
    args.erase(it);
  }
  if (auto it = args.find("filename"); it != args.end() && !it->second.empty()) {
    config_source["entryPoint"] = it->second;
    args.erase(it);
  }
  std::map<std::string, std::string> vcs;
  for (auto it = args.begin(); it != args.end();) {
    if (it->first.starts_with("vcs:")) {
      if (!it->second.empty()) {
        vcs[it->first.substr(4)] =
            it->first == "vcs:source" ? RedactContext(it->second) : it->second;
      }
      it = args.erase(it);
    } else {
      ++it;
    }
  }
  bool complete_parameters = !in.frontend.empty();
  if (!request.max) {
    for (auto it = args.begin(); it != args.end();) {
      if (it->first.starts_with("build-arg:") || it->first.starts_with("label:")) {
        complete_parameters = false;
        it = args.erase(it);
      } else {
        ++it;
      }
    }
  }
  json parameters = json::object();
  parameters["frontend"] = in.frontend;
  if (!args.empty()) parameters["args"] = args;
  if (request.max) {
    json secrets = json::array();
    for (const auto& [id, optional] : c.secrets) {
      json s = {{"id", id}};
      if (optional) s["optional"] = true;
      secrets.push_back(std::move(s));
    }
    if (!secrets.empty()) parameters["secrets"] = std::move(secrets);
    json ssh = json::array();
    for (const auto& [id, optional] : c.ssh) {
      json s = {{"id", id}};
      if (optional) s["optional"] = true;
      ssh.push_back(std::move(s));
    }
    if (!ssh.empty()) parameters["ssh"] = std::move(ssh);
  }
  if (!c.locals.empty()) {
    json locals = json::array();
    for (const std::string& l : c.locals) locals.push_back({{"name", l}});
    parameters["locals"] = std::move(locals);
  }
  const bool incomplete_materials = !c.locals.empty();

  json pred = json::object();
  pred["builder"] = {{"id", request.builder_id}};
  pred["buildType"] = kBuildType;
  json materials = MaterialsJson(c);
  if (!materials.empty()) pred["materials"] = std::move(materials);
  pred["invocation"] = {
      {"configSource", std::move(config_source)},
      {"parameters", std::move(parameters)},
      {"environment", {{"platform", oci::FormatPlatform(oci::Normalize(oci::HostPlatform()))}}}};
  json buildkit_metadata = json::object();
  if (!vcs.empty()) buildkit_metadata["vcs"] = vcs;
  HOIST_ASSIGN_OR_RETURN(Steps steps, BuildSteps(ops));
  if (request.max && steps_out != nullptr) *steps_out = StepsOf(ops, steps, *in.vertices);
  if (request.max) {
    pred["buildConfig"] = {{"llbDefinition", steps.definition}};
    // The ops' digests cover session IDs, so a reproducible build leaves them out.
    if (!in.epoch) {
      json digest_mapping = json::object();
      for (const auto& [d, i] : steps.index) digest_mapping[d.str()] = fmt::format("step{}", i);
      pred["buildConfig"]["digestMapping"] = std::move(digest_mapping);
    }
    if (!in.dockerfile.empty()) buildkit_metadata["source"] = SourceJson(in, steps);
  }
  int64_t started = in.started_ns, finished = in.finished_ns;
  std::string invocation_id = in.invocation_id;
  if (in.epoch) {
    started = finished = *in.epoch * 1000000000;
    // From what the build was (its steps without session IDs, its parameters), not when.
    invocation_id = Sha256Hex(Dump(steps.definition) + "\n" + Dump(json(args))).substr(0, 25);
  }
  json metadata = json::object();
  if (!invocation_id.empty()) metadata["buildInvocationID"] = invocation_id;
  metadata["buildStartedOn"] = FormatNanos(started);
  metadata["buildFinishedOn"] = FormatNanos(finished);
  metadata["completeness"] = {{"parameters", complete_parameters},
                              {"environment", true},
                              {"materials", !incomplete_materials}};
  metadata["reproducible"] = request.reproducible;
  metadata["https://mobyproject.org/buildkit@v1#metadata"] = std::move(buildkit_metadata);
  if (!incomplete_materials && !c.network) {
    metadata["https://mobyproject.org/buildkit@v1#hermetic"] = true;
  }
  pred["metadata"] = std::move(metadata);
  return Dump(pred);
}

Result<std::string> AddProvenanceLayers(
    std::string_view predicate, const std::map<std::string, std::vector<oci::Descriptor>>& layers) {
  json p = json::parse(predicate, nullptr, false);
  if (p.is_discarded() || !p.is_object() || !p.contains("metadata")) {
    return MakeError(Code::kInternal, "provenance: not a predicate");
  }
  if (layers.empty()) return std::string(predicate);
  json out = json::object();
  for (const auto& [step, chain] : layers) {
    json descs = json::array();
    for (const oci::Descriptor& d : chain) {
      descs.push_back(json::parse(oci::SerializeDescriptor(d)));
    }
    out[step] = json::array({std::move(descs)});
  }
  p["metadata"]["https://mobyproject.org/buildkit@v1#metadata"]["layers"] = std::move(out);
  return Dump(p);
}

}  // namespace hoist::control
