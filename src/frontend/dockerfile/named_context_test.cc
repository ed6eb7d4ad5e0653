// Named contexts: lookup and normalisation, every value type, the resolver's requests, the
// emitted sources (through Marshal and DumpLLB, as buildctl would show them) and every error.
#include "frontend/dockerfile/named_context.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "frontend/dockerfile/testing/fake_image_meta_resolver.h"
#include "llb/llb.h"

namespace hoist::frontend::dockerfile {
namespace {

using nlohmann::json;
using testing::FakeImageMetaResolver;

const std::string kHex = std::string(64, 'a');
const std::string kDigest = "sha256:" + kHex;
const std::string kManifestDigest = "sha256:" + std::string(64, 'b');

const oci::Platform kAmd64{"linux", "amd64", "", "", {}};
const oci::Platform kArm64{"linux", "arm64", "", "", {}};

std::string ConfigJson(std::string_view arch = "arm64") {
  return json{{"created", "2024-01-02T03:04:05Z"},
              {"architecture", arch},
              {"os", "linux"},
              {"config",
               {{"Env", {"PATH=/usr/local/bin:/usr/bin", "FROM_IMAGE=yes"}},
                {"WorkingDir", "/srv/app"},
                {"User", "app"}}},
              {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}}}
      .dump();
}

ResolvedImageConfig Resolved(std::string ref, std::string config = ConfigJson()) {
  return ResolvedImageConfig{std::move(ref), *oci::Digest::Parse(kManifestDigest),
                             std::move(config)};
}

// One source op of a marshalled state, as DumpLLB prints it.
struct SourceOp {
  std::string identifier;
  std::map<std::string, std::string> attrs;
  json platform;
  std::map<std::string, bool> caps;
  std::string custom_name;
  std::string dump;  // the whole graph
};

SourceOp OnlySource(const llb::State& st) {
  llb::MarshalOptions mo;
  mo.platform = kAmd64;
  mo.local_unique_id = "unique";
  auto def = llb::Marshal(st, mo);
  EXPECT_TRUE(def.has_value()) << def.error().message();
  if (!def) return {};
  auto dump = llb::DumpLLB(*def);
  EXPECT_TRUE(dump.has_value());
  if (!dump) return {};
  SourceOp out;
  out.dump = *dump;
  int sources = 0;
  std::istringstream lines(*dump);
  for (std::string line; std::getline(lines, line);) {
    json j = json::parse(line);
    if (!j["Op"].contains("Op") || !j["Op"]["Op"].contains("source")) continue;
    ++sources;
    const json& src = j["Op"]["Op"]["source"];
    out.identifier = src.value("identifier", "");
    if (src.contains("attrs")) out.attrs = src["attrs"].get<std::map<std::string, std::string>>();
    out.platform = j["Op"].value("platform", json());
    const json& md = j.value("OpMetadata", json::object());
    if (md.contains("caps")) out.caps = md["caps"].get<std::map<std::string, bool>>();
    if (md.contains("description")) {
      out.custom_name = md["description"].value("llb.customname", "");
    }
  }
  EXPECT_EQ(sources, 1) << *dump;
  return out;
}

class NamedContextTest : public ::testing::Test {
 protected:
  NamedContextOptions Options() {
    NamedContextOptions o;
    o.frontend_opts = &opts_;
    o.resolver = &resolver_;
    o.session_id = "session-1";
    o.inputs = &inputs_;
    return o;
  }
  Result<std::optional<NamedContext>> Load(std::string_view name, const oci::Platform& p = kAmd64) {
    return LoadNamedContext(name, p, Options());
  }
  // The loaded context, failing the test when there is none.
  NamedContext MustLoad(std::string_view name, const oci::Platform& p = kAmd64) {
    auto r = Load(name, p);
    EXPECT_TRUE(r.has_value()) << r.error().message();
    if (!r || !*r) {
      ADD_FAILURE() << "no context for " << name;
      return {};
    }
    return std::move(**r);
  }
  std::string ErrorOf(std::string_view name, const oci::Platform& p = kAmd64) {
    auto r = Load(name, p);
    EXPECT_FALSE(r.has_value());
    return r ? "" : r.error().message();
  }

  std::map<std::string, std::string> opts_;
  std::map<std::string, llb::State> inputs_;
  FakeImageMetaResolver resolver_;
};

// ---- lookup ----

TEST_F(NamedContextTest, NoOptionIsNoContext) {
  opts_["context:other"] = "docker-image://alpine";
  auto r = Load("base");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  EXPECT_TRUE(resolver_.calls().empty());
}

TEST_F(NamedContextTest, ScratchAndContextAreNeverLookedUp) {
  for (std::string name : {"scratch", "context", "Scratch", "CONTEXT"}) {
    opts_["context:" + name] = "bogus";
    auto r = Load(name);
    ASSERT_TRUE(r.has_value()) << name;
    EXPECT_FALSE(r->has_value()) << name;
  }
}

TEST_F(NamedContextTest, InvalidNamesAreNotLookedUp) {
  for (std::string name : {"Base", "a..b", "foo:bar:baz", "-x"}) {
    opts_["context:" + name] = "bogus";
    auto r = Load(name);
    ASSERT_TRUE(r.has_value()) << name;
    EXPECT_FALSE(r->has_value()) << name;
  }
}

TEST_F(NamedContextTest, NameIsNormalisedAsAnImageName) {
  opts_["context:alpine"] = "local:a";
  opts_["context:alpine:3.20"] = "local:b";
  opts_["context:myorg/app"] = "local:c";
  opts_["context:ghcr.io/x/y"] = "local:d";
  auto id = [&](std::string_view name) { return OnlySource(MustLoad(name).state).identifier; };
  EXPECT_EQ(id("docker.io/library/alpine:latest"), "local://a");
  EXPECT_EQ(id("alpine:latest"), "local://a");
  EXPECT_EQ(id("index.docker.io/library/alpine"), "local://a");
  EXPECT_EQ(id("docker.io/library/alpine:3.20"), "local://b");
  EXPECT_EQ(id("docker.io/myorg/app:latest"), "local://c");
  EXPECT_EQ(id("ghcr.io/x/y:latest"), "local://d");
  // The full form is not what is looked up.
  opts_.clear();
  opts_["context:docker.io/library/alpine:latest"] = "local:a";
  auto r = Load("alpine");
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
}

TEST_F(NamedContextTest, PlatformSpecificKeyWins) {
  opts_["context:base"] = "local:generic";
  opts_["context:base::linux/arm64"] = "local:arm";
  NamedContext arm = MustLoad("base", kArm64);
  SourceOp src = OnlySource(arm.state);
  EXPECT_EQ(src.identifier, "local://arm");
  // The name used for progress and errors carries the platform, as in BuildKit.
  EXPECT_EQ(src.custom_name, "[context base::linux/arm64] load from client");
  EXPECT_EQ(src.attrs["local.sharedkeyhint"], "context:base::linux/arm64-");

  SourceOp generic = OnlySource(MustLoad("base", kAmd64).state);
  EXPECT_EQ(generic.identifier, "local://generic");
  EXPECT_EQ(generic.custom_name, "[context base] load from client");
}

TEST_F(NamedContextTest, PlatformKeyIsTheNormalisedFormat) {
  opts_["context:base::linux/arm/v7"] = "local:armv7";
  opts_["context:base::linux/arm64"] = "local:arm64";
  EXPECT_EQ(OnlySource(MustLoad("base", {"linux", "armhf", "", "", {}}).state).identifier,
            "local://armv7");
  EXPECT_EQ(OnlySource(MustLoad("base", {"linux", "aarch64", "v8", "", {}}).state).identifier,
            "local://arm64");
}

TEST_F(NamedContextTest, PlatformSpecificErrorsNameThePlatformKey) {
  opts_["context:base::linux/amd64"] = "nope";
  EXPECT_EQ(ErrorOf("base"), "invalid context specifier nope for base::linux/amd64");
}

// ---- docker-image ----

TEST_F(NamedContextTest, DockerImageResolvesAndPinsTheDigest) {
  opts_["context:base"] = "docker-image://alpine:3.20";
  resolver_.Add("docker.io/library/alpine:3.20", Resolved("docker.io/library/alpine:3.20"));
  NamedContextOptions o = Options();
  o.resolve_mode = "pull";
  auto r = LoadNamedContext("base", kArm64, o);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_TRUE(r->has_value());
  const NamedContext& nc = **r;

  auto calls = resolver_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].ref, "docker.io/library/alpine:3.20");
  EXPECT_EQ(calls[0].options.resolver_type, ResolverType::kRegistry);
  EXPECT_EQ(calls[0].options.platform, kArm64);
  EXPECT_EQ(calls[0].options.resolve_mode, "pull");

  SourceOp src = OnlySource(nc.state);
  EXPECT_EQ(src.identifier, "docker-image://docker.io/library/alpine:3.20@" + kManifestDigest);
  EXPECT_EQ(src.custom_name, "[context base] alpine:3.20");
  EXPECT_EQ(src.platform, (json{{"Architecture", "arm64"}, {"OS", "linux"}}));
  EXPECT_TRUE(src.caps.contains("source.image"));
  // BuildKit gives the resolve mode to the resolver only.
  EXPECT_FALSE(src.attrs.contains("image.resolvemode"));

  ASSERT_TRUE(nc.image.has_value());
  EXPECT_EQ(nc.image->created, "");  // cleared, as BuildKit does for images
  EXPECT_EQ(nc.image->config.user, "app");
  EXPECT_EQ(nc.state.GetEnv("FROM_IMAGE"), "yes");
  EXPECT_EQ(nc.state.GetDir(), "/srv/app");
  EXPECT_EQ(nc.state.GetPlatform(), kArm64);
}

TEST_F(NamedContextTest, DockerImageWithoutSlashesAndLatest) {
  opts_["context:base"] = "docker-image:busybox";
  resolver_.Add("docker.io/library/busybox:latest",
                Resolved("docker.io/library/busybox:latest@" + kManifestDigest));
  NamedContext nc = MustLoad("base");
  SourceOp src = OnlySource(nc.state);
  EXPECT_EQ(src.identifier, "docker-image://docker.io/library/busybox:latest@" + kManifestDigest);
  EXPECT_EQ(src.custom_name, "[context base] busybox");
}

TEST_F(NamedContextTest, DockerImageScratchIsEmpty) {
  opts_["context:base"] = "docker-image://scratch";
  NamedContext nc = MustLoad("base");
  EXPECT_TRUE(nc.state.IsScratch());
  EXPECT_FALSE(nc.image.has_value());
  EXPECT_TRUE(resolver_.calls().empty());
}

TEST_F(NamedContextTest, DefaultPlatformIsLeftToTheEngine) {
  oci::Platform host = oci::HostPlatform();
  opts_["context:base::" + oci::FormatPlatformAll(host)] = "docker-image://alpine";
  resolver_.Add("docker.io/library/alpine:latest", Resolved("docker.io/library/alpine:latest"));
  NamedContext nc = MustLoad("base", oci::Platform{});
  auto calls = resolver_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_FALSE(calls[0].options.platform.has_value());
  EXPECT_EQ(OnlySource(nc.state).custom_name,
            "[context base::" + oci::FormatPlatformAll(host) + "] alpine");
}

TEST_F(NamedContextTest, DockerImageErrors) {
  opts_["context:bad"] = "docker-image://Alpine";
  EXPECT_EQ(ErrorOf("bad"),
            "context bad: invalid reference \"Alpine\": repository name must be lowercase");

  opts_["context:missing"] = "docker-image://nothere";
  EXPECT_EQ(ErrorOf("missing"),
            "context missing: load metadata for docker.io/library/nothere:latest: "
            "docker.io/library/nothere:latest: not found");

  opts_["context:badconfig"] = "docker-image://broken";
  resolver_.Add("docker.io/library/broken:latest",
                Resolved("docker.io/library/broken:latest", "{\"os\":\"linux\""));
  std::string err = ErrorOf("badconfig");
  EXPECT_TRUE(
      err.starts_with("context badconfig: image config of "
                      "docker.io/library/broken:latest: "))
      << err;

  NamedContextOptions o = Options();
  o.resolver = nullptr;
  auto r = LoadNamedContext("missing", kAmd64, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "context missing: load metadata for docker.io/library/nothere:latest: "
            "no image resolver");
}

// ---- oci-layout ----

TEST_F(NamedContextTest, OciLayoutResolvesThroughTheStoreUnderADummyRef) {
  const std::string store = "private-store-id";
  opts_["context:base"] = "oci-layout://" + store + ":v1@" + kDigest;
  resolver_.Add("docker.io/library/base@" + kDigest, Resolved("ignored"), store);
  NamedContext nc = MustLoad("base", kArm64);

  auto calls = resolver_.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].ref, "docker.io/library/base@" + kDigest);
  EXPECT_EQ(calls[0].options.resolver_type, ResolverType::kOciLayout);
  EXPECT_EQ(calls[0].options.session_id, "session-1");
  EXPECT_EQ(calls[0].options.store_id, store);
  EXPECT_EQ(calls[0].options.platform, kArm64);

  SourceOp src = OnlySource(nc.state);
  EXPECT_EQ(src.identifier, "oci-layout://docker.io/library/base@" + kDigest);
  EXPECT_EQ(src.attrs, (std::map<std::string, std::string>{{"oci.session", "session-1"},
                                                           {"oci.store", store}}));
  EXPECT_EQ(src.caps, (std::map<std::string, bool>{{"source.ocilayout", true}}));
  EXPECT_EQ(src.custom_name, "[context base] OCI load from client");
  EXPECT_EQ(src.platform, (json{{"Architecture", "arm64"}, {"OS", "linux"}}));
  // The store ID is only an attr; it never reaches the identifier or a name.
  EXPECT_EQ(src.identifier.find(store), std::string::npos);
  EXPECT_EQ(src.custom_name.find(store), std::string::npos);

  ASSERT_TRUE(nc.image.has_value());
  EXPECT_EQ(nc.image->config.working_dir, "/srv/app");
  EXPECT_EQ(nc.state.GetEnv("FROM_IMAGE"), "yes");
  EXPECT_EQ(nc.state.GetDir(), "/srv/app");
}

TEST_F(NamedContextTest, OciLayoutWithoutSlashesAndANormalisedName) {
  opts_["context:myorg/base:1.0"] = "oci-layout:store@" + kDigest;
  resolver_.Add("docker.io/myorg/base:1.0@" + kDigest, Resolved(""), "store");
  NamedContext nc = MustLoad("docker.io/myorg/base:1.0");
  SourceOp src = OnlySource(nc.state);
  EXPECT_EQ(src.identifier, "oci-layout://docker.io/myorg/base:1.0@" + kDigest);
  EXPECT_EQ(src.attrs["oci.store"], "store");
  EXPECT_EQ(src.custom_name, "[context myorg/base:1.0] OCI load from client");
}

TEST_F(NamedContextTest, OciLayoutErrors) {
  opts_["context:nodigest"] = "oci-layout://store:v1";
  EXPECT_EQ(ErrorOf("nodigest"), "oci-layout reference \"store:v1\" has no digest");
  opts_["context:nodigest2"] = "oci-layout:store";
  EXPECT_EQ(ErrorOf("nodigest2"), "oci-layout reference \"store\" has no digest");

  // A bare digest parses as a name with a tag, so it too lacks a digest.
  opts_["context:bare"] = "oci-layout://" + kDigest;
  EXPECT_EQ(ErrorOf("bare"), "oci-layout reference \"" + kDigest + "\" has no digest");

  opts_["context:unparsable"] = "oci-layout://Store@" + kDigest;
  std::string err = ErrorOf("unparsable");
  EXPECT_TRUE(err.starts_with("could not parse oci-layout reference \"Store@" + kDigest + "\": "))
      << err;

  resolver_.SetKnownStores({"known"});
  opts_["context:unknown"] = "oci-layout://other@" + kDigest;
  EXPECT_EQ(ErrorOf("unknown"), "context unknown: load metadata for docker.io/library/unknown@" +
                                    kDigest + ": unknown store oci:other");

  opts_["context:absent"] = "oci-layout://known@" + kDigest;
  EXPECT_EQ(ErrorOf("absent"), "context absent: load metadata for docker.io/library/absent@" +
                                   kDigest + ": docker.io/library/absent@" + kDigest +
                                   ": not found");

  opts_["context:badconfig"] = "oci-layout://known@" + kDigest;
  resolver_.Add("docker.io/library/badconfig@" + kDigest,
                Resolved("", R"({"architecture":"amd64","os":"linux"})"), "known");
  err = ErrorOf("badconfig");
  EXPECT_TRUE(err.starts_with("context badconfig: image config of docker.io/library/badconfig@" +
                              kDigest + ": "))
      << err;
}

// ---- local ----

TEST_F(NamedContextTest, LocalUsesTheSessionAndSharedKey) {
  opts_["context:src"] = "local:srcdir";
  opts_["sharedkey:localdir:src"] = "abc";
  NamedContext nc = MustLoad("src");
  EXPECT_FALSE(nc.image.has_value());
  SourceOp src = OnlySource(nc.state);
  EXPECT_EQ(src.identifier, "local://srcdir");
  EXPECT_EQ(src.attrs,
            (std::map<std::string, std::string>{{"local.session", "session-1"},
                                                {"local.sharedkeyhint", "context:src-abc"}}));
  EXPECT_EQ(src.custom_name, "[context src] load from client");
  EXPECT_TRUE(src.caps.contains("source.local"));
  EXPECT_TRUE(src.caps.contains("source.local.sessionid"));
}

TEST_F(NamedContextTest, LocalExcludesItsDockerignoreAndHonoursItsSession) {
  opts_["context:src"] = "local:srcdir";
  std::map<std::string, std::string> ignores = {{"srcdir", "# comment\n*.md\n/build/\n!keep.md\n"},
                                                {"other", "x"}};
  std::map<std::string, std::string> sessions = {{"srcdir", "session-2"}};
  NamedContextOptions o = Options();
  o.local_dockerignores = &ignores;
  o.local_session_ids = &sessions;
  auto r = LoadNamedContext("src", kAmd64, o);
  ASSERT_TRUE(r.has_value() && r->has_value());
  SourceOp src = OnlySource((*r)->state);
  EXPECT_EQ(src.attrs["local.excludepatterns"], R"(["*.md","build","!keep.md"])");
  EXPECT_EQ(src.attrs["local.session"], "session-2");
  EXPECT_TRUE(src.caps.contains("source.local.excludepatterns"));

  o.no_dockerignore = true;
  r = LoadNamedContext("src", kAmd64, o);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_FALSE(OnlySource((*r)->state).attrs.contains("local.excludepatterns"));
}

TEST_F(NamedContextTest, LocalBadDockerignore) {
  opts_["context:src"] = "local:srcdir";
  std::map<std::string, std::string> ignores = {{"srcdir", "ok\n!\n"}};
  NamedContextOptions o = Options();
  o.local_dockerignores = &ignores;
  auto r = LoadNamedContext("src", kAmd64, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(),
            "context src: failed parsing .dockerignore: illegal exclusion pattern: \"!\"");
}

// ---- input ----

TEST_F(NamedContextTest, InputWithoutMetadata) {
  inputs_["dep"] = llb::Image("busybox");
  opts_["context:base"] = "input:dep";
  NamedContext nc = MustLoad("base");
  EXPECT_FALSE(nc.image.has_value());
  EXPECT_EQ(OnlySource(nc.state).identifier, "docker-image://docker.io/library/busybox:latest");
  EXPECT_TRUE(resolver_.calls().empty());
}

std::string Base64(std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= s.size(); i += 3) {
    uint32_t n = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    for (int k = 3; k >= 0; --k) out.push_back(kAlphabet[(n >> (6 * k)) & 63]);
  }
  if (size_t rest = s.size() - i; rest > 0) {
    uint32_t n = uint8_t(s[i]) << 16;
    if (rest == 2) n |= uint8_t(s[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

TEST_F(NamedContextTest, InputCarriesAConfigThroughItsMetadata) {
  inputs_["dep"] = llb::Image("busybox");
  opts_["context:base"] = "input:dep";
  opts_["input-metadata:dep"] =
      json{{"containerimage.config", Base64(ConfigJson("amd64"))}, {"other", Base64("x")}}.dump();
  NamedContext nc = MustLoad("base");
  ASSERT_TRUE(nc.image.has_value());
  EXPECT_EQ(nc.image->config.user, "app");
  EXPECT_EQ(nc.image->created, "2024-01-02T03:04:05Z");
  EXPECT_EQ(nc.state.GetEnv("FROM_IMAGE"), "yes");
  EXPECT_EQ(nc.state.GetDir(), "/srv/app");

  // Metadata without a config: the plain input.
  opts_["input-metadata:dep"] = json{{"other", Base64("x")}}.dump();
  EXPECT_FALSE(MustLoad("base").image.has_value());
}

TEST_F(NamedContextTest, InputErrors) {
  opts_["context:base"] = "input:nothere";
  EXPECT_EQ(ErrorOf("base"), "invalid input nothere for base");
  NamedContextOptions o = Options();
  o.inputs = nullptr;
  auto r = LoadNamedContext("base", kAmd64, o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message(), "invalid input nothere for base");

  inputs_["dep"] = llb::Image("busybox");
  opts_["context:base"] = "input:dep";
  opts_["input-metadata:dep"] = "{nope";
  EXPECT_EQ(ErrorOf("base"), "failed to parse input metadata {nope: not JSON");
  opts_["input-metadata:dep"] = "[]";
  EXPECT_EQ(ErrorOf("base"), "failed to parse input metadata []: not a JSON object");
  opts_["input-metadata:dep"] = R"({"containerimage.config":1})";
  EXPECT_EQ(ErrorOf("base"),
            "failed to parse input metadata {\"containerimage.config\":1}: member "
            "\"containerimage.config\" is not a string");
  opts_["input-metadata:dep"] = R"({"containerimage.config":"***"})";
  EXPECT_EQ(ErrorOf("base"),
            "failed to parse input metadata {\"containerimage.config\":\"***\"}: member "
            "\"containerimage.config\" is not base64");
  opts_["input-metadata:dep"] = json{{"containerimage.config", Base64("{}")}}.dump();
  std::string err = ErrorOf("base");
  EXPECT_TRUE(err.starts_with("failed to parse image config for base: ")) << err;
}

// ---- http and git ----

TEST_F(NamedContextTest, HttpFile) {
  opts_["context:files"] = "https://example.com/files/archive.tar.gz";
  NamedContext nc = MustLoad("files");
  EXPECT_FALSE(nc.image.has_value());
  SourceOp src = OnlySource(nc.state);
  EXPECT_EQ(src.identifier, "https://example.com/files/archive.tar.gz");
  EXPECT_EQ(src.attrs, (std::map<std::string, std::string>{{"http.filename", "context"}}));
  EXPECT_EQ(src.custom_name, "[context files] https://example.com/files/archive.tar.gz");
  EXPECT_TRUE(src.caps.contains("source.http"));

  opts_["context:plain"] = "http://example.com/f";
  EXPECT_EQ(OnlySource(MustLoad("plain").state).identifier, "http://example.com/f");
}

TEST_F(NamedContextTest, HttpGitRepository) {
  opts_["context:repo"] = "https://github.com/moby/buildkit.git#v0.12:docs/../frontend";
  SourceOp src = OnlySource(MustLoad("repo").state);
  EXPECT_EQ(src.identifier, "git://github.com/moby/buildkit.git#v0.12:frontend");
  EXPECT_EQ(src.attrs["git.fullurl"], "https://github.com/moby/buildkit.git");
  EXPECT_EQ(
      src.custom_name,
      "[internal] load git source https://github.com/moby/buildkit.git#v0.12:docs/../frontend");
  EXPECT_TRUE(src.caps.contains("source.git"));
}

TEST_F(NamedContextTest, GitUrls) {
  opts_["context:scp"] = "git@github.com:moby/buildkit.git#main";
  SourceOp scp = OnlySource(MustLoad("scp").state);
  EXPECT_EQ(scp.identifier, "git://github.com/moby/buildkit.git#main");
  EXPECT_EQ(scp.attrs["git.fullurl"], "git@github.com:moby/buildkit.git");
  EXPECT_EQ(scp.attrs["git.mountsshsock"], "default");

  opts_["context:query"] =
      "git://example.com/repo.git?branch=dev&subdir=sub&keep-git-dir&submodules=false"
      "&checksum=0123abcd&mtime=commit&fetch-by-commit";
  SourceOp q = OnlySource(MustLoad("query").state);
  EXPECT_EQ(q.identifier, "git://example.com/repo.git#refs/heads/dev:sub");
  EXPECT_EQ(q.attrs["git.fullurl"], "git://example.com/repo.git");
  EXPECT_EQ(q.attrs["git.keepgitdir"], "true");
  EXPECT_EQ(q.attrs["git.skipsubmodules"], "true");
  EXPECT_EQ(q.attrs["git.checksum"], "0123abcd");
  EXPECT_EQ(q.attrs["git.mtime"], "commit");
  EXPECT_EQ(q.attrs["git.fetchbycommit"], "true");

  opts_["context:tag"] = "git://example.com/repo.git?tag=v1";
  EXPECT_EQ(OnlySource(MustLoad("tag").state).identifier,
            "git://example.com/repo.git#refs/tags/v1");
}

TEST_F(NamedContextTest, GitErrors) {
  opts_["context:a"] = "git:nohost";
  EXPECT_EQ(ErrorOf("a"), "invalid git context git:nohost");
  opts_["context:b"] = "git://example.com/r.git?color=red";
  EXPECT_EQ(ErrorOf("b"), "context b: unexpected query \"color\"");
  opts_["context:c"] = "git://example.com/r.git?ref=";
  EXPECT_EQ(ErrorOf("c"), "context c: query \"ref\" has no value");
  opts_["context:d"] = "git://example.com/r.git?ref=a&ref=b";
  EXPECT_EQ(ErrorOf("d"), "context d: query \"ref\" has multiple values");
  opts_["context:f"] = "git://example.com/r.git?tag=v1&branch=main";
  EXPECT_EQ(ErrorOf("f"), "context f: branch conflicts with tag");
  opts_["context:g"] = "git://example.com/r.git?ref=x#y";
  EXPECT_EQ(ErrorOf("g"), "context g: ref conflicts: \"y\" vs \"x\"");
  opts_["context:h"] = "git://example.com/r.git?submodules=maybe";
  EXPECT_EQ(ErrorOf("h"), "context h: invalid submodules value: \"maybe\"");
  opts_["context:i"] = "git://example.com/r.git?mtime=now";
  EXPECT_EQ(ErrorOf("i"),
            "context i: invalid mtime value: \"now\" (must be \"checkout\" or \"commit\")");
}

// ---- value types ----

TEST_F(NamedContextTest, UnsupportedAndMissingTypes) {
  opts_["context:base"] = "ftp://example.com/x";
  EXPECT_EQ(ErrorOf("base"), "unsupported context source ftp for base");
  opts_["context:base"] = "docker-image";
  EXPECT_EQ(ErrorOf("base"), "invalid context specifier docker-image for base");
  opts_["context:base"] = "";
  EXPECT_EQ(ErrorOf("base"), "invalid context specifier  for base");
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
