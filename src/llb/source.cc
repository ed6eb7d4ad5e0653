#include "llb/source.h"

#include <fmt/core.h>

#include <map>

#include "llb/caps.h"
#include "llb/internal/go_json.h"
#include "llb/internal/op_proto.h"
#include "llb/internal/path.h"
#include "llb/internal/vertex.h"
#include "oci/reference.h"

namespace hoist::llb {
namespace {

using Attrs = std::map<std::string, std::string>;

class SourceVertex : public internal::Vertex {
 public:
  SourceVertex(std::string id, Attrs attrs, OpOptions options,
               std::vector<std::string_view> caps, std::string error)
      : id_(std::move(id)),
        attrs_(std::move(attrs)),
        options_(std::move(options)),
        caps_(std::move(caps)),
        error_(std::move(error)) {}

  std::vector<Output> Inputs() const override { return {}; }

  Result<internal::MarshalledOp> MarshalOp(internal::MarshalContext& ctx) const override {
    if (!error_.empty()) return MakeError(Code::kInvalidArgument, error_);
    if (id_.empty()) return MakeError(Code::kInvalidArgument, "source identifier can't be empty");
    Attrs attrs = attrs_;
    std::vector<std::string_view> caps = caps_;
    if (id_.starts_with("local://") && !attrs.count(std::string(kAttrLocalSessionID))) {
      attrs[std::string(kAttrLocalUniqueID)] = ctx.options().local_unique_id;
      caps.push_back(kCapSourceLocalUnique);
    }
    internal::Constraints c = ctx.Merge(options_, caps, std::nullopt);
    pb::Op op;
    // Only image sources depend on the platform.
    bool platform_specific = id_.starts_with("docker-image://") || id_.starts_with("oci-layout://");
    internal::SetConstraints(c, platform_specific, &op);
    auto* src = op.mutable_source();
    src->set_identifier(id_);
    for (const auto& [k, v] : attrs) (*src->mutable_attrs())[k] = v;
    return internal::Finish(op, std::move(c.metadata));
  }

 private:
  std::string id_;
  Attrs attrs_;
  OpOptions options_;
  std::vector<std::string_view> caps_;
  std::string error_;
};

State NewSource(std::string id, Attrs attrs, const OpOptions& options,
                std::vector<std::string_view> caps, std::string error = "") {
  auto v = std::make_shared<SourceVertex>(std::move(id), std::move(attrs), options,
                                          std::move(caps), std::move(error));
  return State(Output{std::move(v), 0, options.platform, ""});
}

void Set(Attrs& attrs, std::string_view key, std::string value) {
  attrs[std::string(key)] = std::move(value);
}

}  // namespace

State Image(std::string_view ref, const ImageOptions& options) {
  std::string normalized(ref);
  std::string error;
  if (auto parsed = oci::ParseNormalizedNamed(ref)) {
    normalized = oci::TagNameOnly(*parsed).String();
  } else {
    error = parsed.error().message();
  }
  Attrs attrs;
  std::vector<std::string_view> caps = {kCapSourceImage};
  switch (options.resolve_mode) {
    case ResolveMode::kDefault:
      break;
    case ResolveMode::kForcePull:
      Set(attrs, kAttrImageResolveMode, "pull");
      caps.push_back(kCapSourceImageResolveMode);  // only the enforcing mode needs the cap
      break;
    case ResolveMode::kPreferLocal:
      Set(attrs, kAttrImageResolveMode, "local");
      break;
  }
  if (!options.record_type.empty()) Set(attrs, kAttrImageRecordType, options.record_type);
  if (options.layer_limit) {
    Set(attrs, kAttrImageLayerLimit, std::to_string(*options.layer_limit));
    caps.push_back(kCapSourceImageLayerLimit);
  }
  if (!options.checksum.empty()) {
    Set(attrs, kAttrImageChecksum, options.checksum);
    caps.push_back(kCapSourceImageChecksum);
  }
  return NewSource("docker-image://" + normalized, std::move(attrs), options.op, std::move(caps),
                   std::move(error));
}

State OCILayout(std::string_view ref, const OciLayoutOptions& options) {
  Attrs attrs;
  if (!options.session_id.empty()) Set(attrs, kAttrOCILayoutSessionID, options.session_id);
  if (!options.store_id.empty()) Set(attrs, kAttrOCILayoutStoreID, options.store_id);
  if (options.layer_limit) {
    Set(attrs, kAttrOCILayoutLayerLimit, std::to_string(*options.layer_limit));
  }
  return NewSource("oci-layout://" + std::string(ref), std::move(attrs), options.op,
                   {kCapSourceOCILayout});
}

State Local(std::string_view name, const LocalOptions& options) {
  Attrs attrs;
  std::vector<std::string_view> caps;
  if (!options.session_id.empty()) {
    Set(attrs, kAttrLocalSessionID, options.session_id);
    caps.push_back(kCapSourceLocalSessionID);
  }
  if (!options.include_patterns.empty()) {
    Set(attrs, kAttrIncludePatterns, internal::GoJsonStringArray(options.include_patterns));
    caps.push_back(kCapSourceLocalIncludePatterns);
  }
  if (!options.follow_paths.empty()) {
    Set(attrs, kAttrFollowPaths, internal::GoJsonStringArray(options.follow_paths));
    caps.push_back(kCapSourceLocalFollowPaths);
  }
  if (!options.exclude_patterns.empty()) {
    Set(attrs, kAttrExcludePatterns, internal::GoJsonStringArray(options.exclude_patterns));
    caps.push_back(kCapSourceLocalExcludePatterns);
  }
  if (!options.shared_key_hint.empty()) {
    Set(attrs, kAttrSharedKeyHint, options.shared_key_hint);
    caps.push_back(kCapSourceLocalSharedKeyHint);
  }
  if (!options.differ.empty()) {
    Set(attrs, kAttrLocalDiffer, options.differ);
    if (options.differ_required) caps.push_back(kCapSourceLocalDiffer);
  }
  if (options.metadata_only) {
    Set(attrs, kAttrMetadataTransfer, "true");
    if (!options.metadata_only_exceptions.empty()) {
      Set(attrs, kAttrMetadataTransferExclude,
          internal::GoJsonStringArray(options.metadata_only_exceptions));
    }
    caps.push_back(kCapSourceMetadataTransfer);
  }
  caps.push_back(kCapSourceLocal);
  return NewSource("local://" + std::string(name), std::move(attrs), options.op,
                   std::move(caps));
}

namespace {

// The parts of a git remote that BuildKit's gitutil.ParseURL yields.
struct GitRemote {
  std::string scheme;  // https, http, git, ssh, file
  std::string host;    // with port
  std::string path;
  std::string remote;  // the URL to fetch, without a fragment
};

std::optional<GitRemote> ParseGitRemote(std::string_view url) {
  if (auto hash = url.find('#'); hash != std::string_view::npos) url = url.substr(0, hash);
  if (auto sep = url.find("://"); sep != std::string_view::npos) {
    std::string scheme(url.substr(0, sep));
    if (scheme != "http" && scheme != "https" && scheme != "git" && scheme != "ssh" &&
        scheme != "file") {
      return std::nullopt;
    }
    std::string_view rest = url.substr(sep + 3);
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (auto at = authority.rfind('@'); at != std::string_view::npos) {
      authority = authority.substr(at + 1);
    }
    std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    return GitRemote{scheme, std::string(authority), std::string(path), std::string(url)};
  }
  // scp-like: [user@]host:path, where host has no slash.
  size_t colon = url.find(':');
  size_t slash = url.find('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon < slash) &&
      url.find('@') != std::string_view::npos && url.find('@') < colon) {
    std::string_view host = url.substr(url.find('@') + 1, colon - url.find('@') - 1);
    return GitRemote{"ssh", std::string(host), std::string(url.substr(colon + 1)),
                     std::string(url)};
  }
  return std::nullopt;
}

}  // namespace

State Git(std::string_view url_in, std::string_view fragment, const GitOptions& options) {
  std::string url(url_in);
  auto remote = ParseGitRemote(url);
  if (!remote) {
    url = "https://" + url;
    remote = ParseGitRemote(url);
  }
  if (remote) url = remote->remote;

  std::string ref;
  std::string subdir;
  if (!fragment.empty()) {
    size_t colon = fragment.find(':');
    ref = std::string(fragment.substr(0, colon));
    if (colon != std::string_view::npos) {
      subdir = internal::JoinPath("/", fragment.substr(colon + 1));
      if (subdir.starts_with("/")) subdir.erase(0, 1);
    }
  }
  if (!options.ref.empty()) ref = options.ref;
  if (!options.subdir.empty()) subdir = options.subdir;

  std::string id;
  if (!remote) {
    id = url;
  } else {
    id = remote->host + internal::JoinPath("/", remote->path);
    if (!ref.empty() || !subdir.empty()) {
      id += "#" + ref;
      if (!subdir.empty()) id += ":" + subdir;
    }
  }

  Attrs attrs;
  std::vector<std::string_view> caps;
  if (options.keep_git_dir) {
    Set(attrs, kAttrKeepGitDir, "true");
    caps.push_back(kCapSourceGitKeepDir);
  }
  if (!url.empty()) {
    Set(attrs, kAttrFullRemoteURL, url);
    caps.push_back(kCapSourceGitFullURL);
  }
  std::string token = options.auth_token_secret.value_or("GIT_AUTH_TOKEN");
  std::string header = options.auth_header_secret.value_or("GIT_AUTH_HEADER");
  bool auth_cap = options.auth_token_secret || options.auth_header_secret;
  if (!token.empty()) {
    Set(attrs, kAttrAuthTokenSecret, token);
    if (auth_cap) caps.push_back(kCapSourceGitHTTPAuth);
  }
  if (!header.empty()) {
    Set(attrs, kAttrAuthHeaderSecret, header);
    if (auth_cap) caps.push_back(kCapSourceGitHTTPAuth);
  }
  if (remote && remote->scheme == "ssh") {
    // BuildKit scans the host's keys when none are given; hoist never reaches out while
    // building a graph, so the attr is left out and the solver decides.
    if (!options.known_ssh_hosts.empty()) Set(attrs, kAttrKnownSSHHosts, options.known_ssh_hosts);
    caps.push_back(kCapSourceGitKnownSSHHosts);
    Set(attrs, kAttrMountSSHSock,
        options.mount_ssh_sock.empty() ? "default" : options.mount_ssh_sock);
    caps.push_back(kCapSourceGitMountSSHSock);
  }
  if (!options.checksum.empty()) {
    Set(attrs, kAttrGitChecksum, options.checksum);
    caps.push_back(kCapSourceGitChecksum);
  }
  if (options.skip_submodules) {
    Set(attrs, kAttrGitSkipSubmodules, "true");
    caps.push_back(kCapSourceGitSkipSubmodules);
  }
  if (!options.mtime.empty()) {
    Set(attrs, kAttrGitMTime, options.mtime);
    caps.push_back(kCapSourceGitMTime);
  }
  if (options.fetch_by_commit) {
    Set(attrs, kAttrGitFetchByCommit, "true");
    caps.push_back(kCapSourceGitFetchByCommit);
  }
  caps.push_back(kCapSourceGit);
  return NewSource("git://" + id, std::move(attrs), options.op, std::move(caps));
}

State HTTP(std::string_view url, const HttpOptions& options) {
  Attrs attrs;
  std::vector<std::string_view> caps;
  if (!options.checksum.empty()) {
    Set(attrs, kAttrHTTPChecksum, options.checksum);
    caps.push_back(kCapSourceHTTPChecksum);
  }
  if (!options.filename.empty()) Set(attrs, kAttrHTTPFilename, options.filename);
  if (options.perm != 0) {
    Set(attrs, kAttrHTTPPerm, fmt::format("0{:o}", options.perm & 0777));
    caps.push_back(kCapSourceHTTPPerm);
  }
  if (options.uid != 0) {
    Set(attrs, kAttrHTTPUID, std::to_string(options.uid));
    caps.push_back(kCapSourceHTTPUIDGID);
  }
  if (options.gid != 0) {
    Set(attrs, kAttrHTTPGID, std::to_string(options.gid));
    caps.push_back(kCapSourceHTTPUIDGID);
  }
  if (!options.auth_header_secret.empty()) {
    Set(attrs, kAttrHTTPAuthHeaderSecret, options.auth_header_secret);
    caps.push_back(kCapSourceHTTPAuth);
  }
  if (!options.accept.empty() || !options.user_agent.empty()) {
    if (!options.accept.empty()) {
      Set(attrs, std::string(kAttrHTTPHeaderPrefix) + "accept", options.accept);
    }
    if (!options.user_agent.empty()) {
      Set(attrs, std::string(kAttrHTTPHeaderPrefix) + "user-agent", options.user_agent);
    }
    caps.push_back(kCapSourceHTTPHeader);
  }
  caps.push_back(kCapSourceHTTP);
  return NewSource(std::string(url), std::move(attrs), options.op, std::move(caps));
}

}  // namespace hoist::llb
