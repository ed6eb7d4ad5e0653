// Registries end to end: `FROM` pulled from a real registry (Debian's docker-registry), pushes
// read back by peers (skopeo, buildah, podman), auth (Basic, Bearer tokens), TLS with a test CA,
// a fault-injecting proxy, the registry build cache shared between two engine roots, and
// `hoist layout cp` between layouts and registries.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "harness.h"
#include "registry_harness.h"

namespace hoist::itest {
namespace {

using nlohmann::json;
using Auth = RegistryOptions::Auth;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root (overlayfs, runc)";
    if (std::string why = TestRegistry::Unavailable(); !why.empty()) GTEST_SKIP() << why;
    base_digest_ = MakeBaseImage(s_ / "base", "busybox:1.36");
    ASSERT_EQ(base_digest_.size(), 71u) << base_digest_;
    std::filesystem::create_directories(s_ / "ctx");
  }

  std::unique_ptr<TestRegistry> StartRegistry(RegistryOptions o = {}) {
    auto reg = TestRegistry::Start(o);
    if (reg == nullptr) ADD_FAILURE() << "registry did not start";
    return reg;
  }

  // skopeo pushes the base layout to `ref` (a docker:// reference without the scheme).
  void SkopeoPush(const TestRegistry& reg, const std::string& ref, const std::string& extra = "") {
    std::string creds;
    if (!reg.username().empty()) creds = " --dest-creds " + Quote(reg.username() + ":" + reg.password());
    std::string tls = reg.scheme() == "https" ? " --dest-cert-dir " + Quote(reg.cert_dir())
                                              : " --dest-tls-verify=false";
    RunResult r = Sh("skopeo copy -q" + tls + creds + " " + extra + " oci:" +
                     Quote(s_ / "base") + ":1.36 docker://" + ref);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // `hoist --root ROOT [GLOBAL] build --progress=plain ARGS CTX`, with `env` before it. In
  // daemon mode the daemon gets `env` too, except docker credentials (DOCKER_CONFIG=...): those
  // are the client's alone, and the daemon asks for them through the session.
  RunResult Build(const std::string& args, const std::string& root_name = "root",
                  const std::string& env = "", const std::string& global = "") {
    const std::string daemon_env = env.starts_with("DOCKER_CONFIG=") ? "" : env;
    return Sh(env + " " +
              HoistCommand("--root " + Quote(s_ / root_name) + " " + global +
                               " build --progress=plain " + args + " " + Quote(s_ / "ctx"),
                           daemon_env));
  }
  void Dockerfile(const std::string& text) { WriteFile(s_ / "ctx/Dockerfile", text); }

  std::string SkopeoRaw(const TestRegistry& reg, const std::string& ref) {
    std::string creds;
    if (!reg.username().empty()) creds = " --creds " + Quote(reg.username() + ":" + reg.password());
    RunResult r = Sh("skopeo inspect --raw --tls-verify=false" + creds + " docker://" + ref);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  static std::string Sha256(const std::string& data, const Scratch& s) {
    WriteFile(s / "sha-input", data);
    RunResult r = Sh("sha256sum " + Quote(s / "sha-input"));
    return "sha256:" + r.out.substr(0, 64);
  }

  Scratch s_;
  std::string base_digest_;
};

TEST_F(RegistryTest, BuildsFromWhatSkopeoPushedInOciAndDockerMediaTypes) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/busybox:oci");
  SkopeoPush(*reg, reg->host() + "/library/busybox:docker", "--format v2s2");
  for (const std::string& ref : {reg->host() + "/busybox:oci", reg->host() + "/library/busybox:docker"}) {
    Dockerfile("FROM " + ref + "\nRUN echo pulled > /greeting\n");
    RunResult r = Build("-o type=local,dest=" + Quote(s_ / ("out-" + ref.substr(ref.rfind(':') + 1))));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("[internal] load metadata for " + ref), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("resolve " + ref + "@sha256:"), std::string::npos) << r.err;
    // Both images share their layer, unpacked once for the first.
    if (ref.ends_with(":oci")) {
      EXPECT_NE(r.err.find("extracting sha256:"), std::string::npos) << r.err;
    }
  }
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out-oci/greeting"), "pulled\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out-docker/greeting"), "pulled\n");
  EXPECT_TRUE(std::filesystem::exists(s_ / "out-docker/bin/busybox"));
}

TEST_F(RegistryTest, MissingImageAndMissingTagFailClearly) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  Dockerfile("FROM " + reg->host() + "/nothing:1\n");
  RunResult r = Build("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(reg->host() + "/nothing:1: not found"), std::string::npos) << r.err;
  // A registry that is not there: the error names the reference, no crash.
  Dockerfile("FROM 127.0.0.1:1/nothing:1\n");
  r = Build("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("127.0.0.1:1/nothing:1"), std::string::npos) << r.err;
}

TEST_F(RegistryTest, EachPlatformPullsItsOwnManifestFromAnIndex) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  RunResult made = Sh(std::string(HOIST_SOURCE_DIR) + "/scripts/make-multiplatform-layout " +
                      Quote(s_ / "base") + " 1.36 " + Quote(s_ / "multi"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  RunResult pushed = Sh("skopeo copy -q --all --dest-tls-verify=false oci:" + Quote(s_ / "multi") +
                        ":multi docker://" + reg->host() + "/multi:1");
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  Dockerfile("FROM " + reg->host() + "/multi:1\nCOPY a.txt /a.txt\n");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  for (const std::string arch : {"amd64", "arm64"}) {
    RunResult r = Build("--platform linux/" + arch + " -o type=oci,tar=false,dest=" +
                        Quote(s_ / ("out-" + arch)));
    ASSERT_EQ(r.exit_code, 0) << arch << "\n" << r.err;
    RunResult cfg = Sh("skopeo inspect --config oci:" + Quote(s_ / ("out-" + arch)) + ":latest");
    ASSERT_EQ(cfg.exit_code, 0) << cfg.err;
    json c = json::parse(cfg.out);
    EXPECT_EQ(c["architecture"], arch);
    bool has_env = false;
    for (const auto& e : c["config"]["Env"]) has_env = has_env || e == "ARCH=" + arch;
    EXPECT_TRUE(has_env) << cfg.out;
  }
}

TEST_F(RegistryTest, PushedImageIsReadByPeersWithItsExactBytes) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/busybox:1.36");
  Dockerfile("FROM " + reg->host() + "/busybox:1.36\nRUN echo built > /greeting\n");
  const std::string app = reg->host() + "/team/app";
  const std::string epoch = "SOURCE_DATE_EPOCH=1700000000";
  RunResult r = Build("--push -t " + app + ":1 -t " + app + ":latest --metadata-file " +
                          Quote(s_ / "meta.json"),
                      "root", epoch);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json meta = json::parse(ReadFileOrEmpty(s_ / "meta.json"));
  const std::string digest = meta["containerimage.digest"];
  EXPECT_NE(meta["image.name"].get<std::string>().find(app + ":1"), std::string::npos);
  // skopeo sees the very manifest hoist wrote, under both tags.
  for (const std::string tag : {"1", "latest"}) {
    std::string raw = SkopeoRaw(*reg, app + ":" + tag);
    EXPECT_EQ(Sha256(raw, s_), digest) << raw;
  }
  // Peers pull and run it.
  RunResult copied = Sh("skopeo copy -q --src-tls-verify=false docker://" + app + ":1 oci:" +
                        Quote(s_ / "peer") + ":1");
  ASSERT_EQ(copied.exit_code, 0) << copied.err;
  ASSERT_TRUE(HaveTool("podman") && HaveTool("buildah")) << "scripts/install-deps installs them";
  // podman's default ulimits exceed what this host allows, and its crun fails on hybrid
  // cgroups: runc and lower limits (as in the export tests).
  const std::string podman = "podman --root " + Quote(s_ / "ps") + " --runroot " + Quote(s_ / "pr");
  RunResult run = Sh(podman + " run --rm --runtime runc --ulimit nofile=1024:1024 --ulimit "
                              "nproc=1024:1024 --network none --tls-verify=false " +
                     app + ":1 cat /greeting");
  Sh(podman + " system reset --force >/dev/null 2>&1; umount -R " + Quote(s_ / "ps/overlay") +
     " 2>/dev/null");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "built\n");
  const std::string buildah = "buildah --root " + Quote(s_ / "bs") + " --runroot " + Quote(s_ / "br");
  RunResult pulled = Sh(buildah + " pull -q --tls-verify=false docker://" + app + ":1");
  Sh(buildah + " rm -a >/dev/null 2>&1; umount -R " + Quote(s_ / "bs/overlay") + " 2>/dev/null");
  EXPECT_EQ(pulled.exit_code, 0) << pulled.err;
  // The same build pushed again uploads nothing new and keeps the digest (its provenance names
  // the same tags).
  r = Build("--push -t " + app + ":1 -t " + app + ":latest --metadata-file " +
                Quote(s_ / "meta2.json"),
            "root", epoch);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(ReadFileOrEmpty(s_ / "meta2.json"))["containerimage.digest"], digest);
}

TEST_F(RegistryTest, MultiPlatformBuildPushesAnIndex) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  Dockerfile("FROM scratch\nCOPY a.txt /a.txt\n");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  RunResult r = Build("--platform linux/amd64,linux/arm64 -o type=image,name=" + reg->host() +
                      "/multi:1,push=true");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json index = json::parse(SkopeoRaw(*reg, reg->host() + "/multi:1"));
  // Two images, then (buildx's default min provenance) an attestation manifest for each.
  ASSERT_EQ(index["manifests"].size(), 4u) << index.dump();
  std::set<std::string> archs;
  for (size_t i = 0; i < 2; ++i) {
    const json& m = index["manifests"][i];
    archs.insert(m["platform"]["architecture"]);
    const json& att = index["manifests"][i + 2];
    EXPECT_EQ(att["platform"], json({{"architecture", "unknown"}, {"os", "unknown"}}));
    EXPECT_EQ(att["annotations"]["vnd.docker.reference.type"], "attestation-manifest");
    EXPECT_EQ(att["annotations"]["vnd.docker.reference.digest"], m["digest"]);
  }
  EXPECT_EQ(archs, (std::set<std::string>{"amd64", "arm64"}));
  // And it can be copied back, every platform, into a layout that verifies.
  RunResult cp = Hoist("layout cp --all docker://" + reg->host() + "/multi:1 " + Quote(s_ / "back"));
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  RunResult v = Hoist("layout verify " + Quote(s_ / "back"));
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // One platform: its manifest, config and layer, and no index left unnamed in the layout.
  cp = Hoist("layout cp --platform linux/arm64 docker://" + reg->host() + "/multi:1 " +
             Quote(s_ / "one") + ":arm");
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  size_t blobs = 0;
  for (const auto& e : std::filesystem::directory_iterator(s_ / "one/blobs/sha256")) {
    (void)e;
    ++blobs;
  }
  EXPECT_EQ(blobs, 3u);
  RunResult inspect = Hoist("layout inspect " + Quote(s_ / "one") + ":arm");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("\"arm64\""), std::string::npos) << inspect.out;
}

// A pushed image carries its attestations: provenance naming it and its base, and an SBOM
// listing exactly the packages `dpkg-query -W` reports inside it (this machine's dpkg database
// and dpkg-query copied into the image).
TEST_F(RegistryTest, PushedAttestationsNameTheImageAndListItsPackages) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  ASSERT_EQ(Sh(std::string(HOIST_SOURCE_DIR) + "/tests/sbom/make-dpkg-tools " + Quote(s_ / "ctx/tools"))
                .exit_code,
            0);
  Dockerfile("FROM base\nCOPY tools/ /\n"
             "RUN dpkg-query -W -f '${db:Status-Status} ${Package} ${Version} ${Architecture}\\n' "
             "> /dpkg-list\n");
  const std::string ctx = "--build-context base=oci-layout://" + Quote(s_ / "base:1.36");
  RunResult r = Build(ctx + " --sbom=true --push -t " + reg->host() + "/att:1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Build(ctx + " -o type=local,dest=" + Quote(s_ / "tree"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> want;
  std::istringstream lines(ReadFileOrEmpty(s_ / "tree/dpkg-list"));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("installed ")) want.insert(line.substr(10));
  }
  ASSERT_GT(want.size(), 10u);

  json index = json::parse(SkopeoRaw(*reg, reg->host() + "/att:1"));
  ASSERT_EQ(index["manifests"].size(), 2u) << index.dump();
  const json& image = index["manifests"][0];
  const json& att = index["manifests"][1];
  EXPECT_EQ(att["annotations"]["vnd.docker.reference.digest"], image["digest"]);
  json manifest = json::parse(SkopeoRaw(*reg, reg->host() + "/att@" + std::string(att["digest"])));
  std::map<std::string, json> statements;
  for (const json& l : manifest["layers"]) {
    RunResult blob = Sh("curl -sf http://" + reg->host() + "/v2/att/blobs/" + std::string(l["digest"]));
    ASSERT_EQ(blob.exit_code, 0) << blob.err;
    statements[l["annotations"]["in-toto.io/predicate-type"]] = json::parse(blob.out);
  }
  ASSERT_EQ(statements.size(), 2u);
  // The default provenance: min, naming the pushed image and the layout it came from.
  const json& prov = statements["https://slsa.dev/provenance/v0.2"];
  EXPECT_EQ(prov["subject"][0]["name"],
            "pkg:docker/" + reg->host() + "/att@1?platform=linux%2Famd64");
  EXPECT_EQ(prov["subject"][0]["digest"]["sha256"], std::string(image["digest"]).substr(7));
  EXPECT_FALSE(prov["predicate"].contains("buildConfig"));
  EXPECT_EQ(prov["predicate"]["materials"][0]["uri"], "docker.io/library/base@" + base_digest_);
  // The SBOM: every installed package, as dpkg-query saw it inside the image.
  const json& spdx = statements["https://spdx.dev/Document"]["predicate"];
  std::set<std::string> got;
  for (const json& p : spdx["packages"]) {
    if (p.value("primaryPackagePurpose", "") == "CONTAINER") continue;
    const std::string purl = p["externalRefs"][0]["referenceLocator"];
    const size_t arch = purl.find("arch=");
    got.insert(std::string(p["name"]) + " " + std::string(p["versionInfo"]) + " " +
               purl.substr(arch + 5, purl.find('&', arch) - arch - 5));
    EXPECT_TRUE(purl.starts_with("pkg:deb/debian/")) << purl;
  }
  EXPECT_EQ(got, want);
  // What pulls the image still gets the image.
  RunResult cp = Hoist("layout cp docker://" + reg->host() + "/att:1 " + Quote(s_ / "back") + ":1");
  ASSERT_EQ(cp.exit_code, 0) << cp.err;
  RunResult peer = Sh("skopeo inspect --tls-verify=false docker://" + reg->host() + "/att:1");
  EXPECT_EQ(peer.exit_code, 0) << peer.err;
  EXPECT_NE(peer.out.find("\"amd64\""), std::string::npos) << peer.out;
}

TEST_F(RegistryTest, PushByDigestAndImageOutputWithoutPush) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  Dockerfile("FROM scratch\nCOPY a.txt /a.txt\n");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  RunResult r = Build("-o type=image,name=" + reg->host() +
                      "/bydigest:1,push=true,push-by-digest=true --metadata-file " +
                      Quote(s_ / "meta.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string digest = json::parse(ReadFileOrEmpty(s_ / "meta.json"))["containerimage.digest"];
  // No tag was pushed; the digest is there.
  RunResult tag = Sh("skopeo inspect --raw --tls-verify=false docker://" + reg->host() + "/bydigest:1");
  EXPECT_NE(tag.exit_code, 0);
  EXPECT_FALSE(SkopeoRaw(*reg, reg->host() + "/bydigest@" + digest).empty());
  // type=image without push keeps the image in the engine only.
  r = Build("-o type=image,name=" + reg->host() + "/local:1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunResult none = Sh("skopeo inspect --raw --tls-verify=false docker://" + reg->host() + "/local:1");
  EXPECT_NE(none.exit_code, 0);
  // A push with no name is refused before anything is built.
  r = Build("--push");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("needs an image name"), std::string::npos) << r.err;
}

TEST_F(RegistryTest, BasicAuthUsesDockerConfigAndNeverShowsThePassword) {
  auto reg = StartRegistry({.auth = Auth::kBasic});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/private:1");
  Dockerfile("FROM " + reg->host() + "/private:1\nRUN true\n");
  RunResult r = Build("", "root", "DOCKER_CONFIG=" + Quote(s_ / "nocreds"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unauthorized"), std::string::npos) << r.err;
  const std::string cfg = reg->WriteDockerConfig(s_ / "docker");
  r = Build("--push -t " + reg->host() + "/private:built", "root", "DOCKER_CONFIG=" + Quote(cfg));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find(reg->password()), std::string::npos);
  EXPECT_EQ(r.out.find(reg->password()), std::string::npos);
  EXPECT_FALSE(SkopeoRaw(*reg, reg->host() + "/private:built").empty());
}

TEST_F(RegistryTest, LoginStoresCredentialsThatBuildsUse) {
  auto reg = StartRegistry({.auth = Auth::kBasic});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/private:1");
  const std::string env = "DOCKER_CONFIG=" + Quote(s_ / "docker");
  RunResult bad = Sh("echo wrong | " + env + " " + std::string(HOIST_BIN) +
                     " login -u " + reg->username() + " --password-stdin " + reg->host());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("unauthorized"), std::string::npos) << bad.err;
  RunResult ok = Sh("printf '%s\\n' " + Quote(reg->password()) + " | " + env + " " +
                    std::string(HOIST_BIN) + " login -u " + reg->username() +
                    " --password-stdin " + reg->host());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("Login Succeeded"), std::string::npos) << ok.out;
  EXPECT_EQ(ok.out.find(reg->password()), std::string::npos);
  json config = json::parse(ReadFileOrEmpty(s_ / "docker/config.json"));
  EXPECT_TRUE(config["auths"].contains(reg->host())) << config.dump();
  Dockerfile("FROM " + reg->host() + "/private:1\nRUN true\n");
  RunResult r = Build("", "root", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunResult out = Sh(env + " " + std::string(HOIST_BIN) + " logout " + reg->host());
  ASSERT_EQ(out.exit_code, 0) << out.err;
  config = json::parse(ReadFileOrEmpty(s_ / "docker/config.json"));
  EXPECT_FALSE(config["auths"].contains(reg->host())) << config.dump();
}

TEST_F(RegistryTest, BearerTokensAreFetchedPerScopeAndReused) {
  auto reg = StartRegistry({.auth = Auth::kToken});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/tokened:1");
  reg->ClearTokenLog();
  Dockerfile("FROM " + reg->host() + "/tokened:1\nRUN echo x > /x\n");
  // Anonymous: the issuer grants nothing, the registry refuses.
  RunResult r = Build("", "root", "DOCKER_CONFIG=" + Quote(s_ / "nocreds"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unauthorized"), std::string::npos) << r.err;
  reg->ClearTokenLog();
  const std::string cfg = reg->WriteDockerConfig(s_ / "docker");
  r = Build("--push -t " + reg->host() + "/tokened:built", "root", "DOCKER_CONFIG=" + Quote(cfg));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json log = json::parse(reg->TokenLog());
  std::set<std::string> scopes;
  for (const auto& e : log) {
    for (const auto& s : e["scopes"]) scopes.insert(s);
  }
  EXPECT_TRUE(scopes.contains("repository:tokened:pull")) << log.dump();
  EXPECT_TRUE(scopes.contains("repository:tokened:pull,push")) << log.dump();
  // Tokens are cached: far fewer token requests than registry requests.
  EXPECT_LE(log.size(), 4u) << log.dump();
  EXPECT_EQ(r.err.find(reg->password()), std::string::npos);
}

TEST_F(RegistryTest, TlsNeedsTheTestCaFromTheConfigFile) {
  auto reg = StartRegistry({.tls = true});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/secure:1");
  Dockerfile("FROM " + reg->host() + "/secure:1\nRUN true\n");
  RunResult r = Build("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(reg->host() + "/secure:1"), std::string::npos) << r.err;
  const std::string config = reg->WriteHoistConfig(s_ / "hoist.toml");
  r = Build("", "root", "", "--config " + Quote(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(RegistryTest, PullRetriesAndResumesThroughFaults) {
  auto reg = StartRegistry({.proxy = true});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/flaky:1");
  // The base image's one layer (about 1 MB): dropped part-way, it must resume.
  json manifest = json::parse(ReadFileOrEmpty(s_ / ("base/blobs/sha256/" + base_digest_.substr(7))));
  const std::string layer = manifest["layers"][0]["digest"];
  reg->SetFaults(R"([
    {"method":"GET","path":"/manifests/","action":"status","status":503,"times":2},
    {"method":"GET","path":"/blobs/sha256:","action":"status","status":429,"retry_after":1,"times":1},
    {"method":"GET","path":"/blobs/)" + layer + R"(","action":"drop","after_bytes":200000,"times":1}
  ])");
  Dockerfile("FROM " + reg->proxy_host() + "/flaky:1\nRUN echo ok > /ok\n");
  RunResult r = Build("-o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/ok"), "ok\n");
  json log = json::parse(reg->ProxyLog());
  int faults = 0;
  bool ranged = false;
  for (const auto& e : log) {
    if (e["fault"].is_string() && !e["fault"].get<std::string>().empty()) ++faults;
    if (e["range"].is_string() && e["range"].get<std::string>().starts_with("bytes=")) ranged = true;
  }
  EXPECT_GE(faults, 4) << log.dump();
  EXPECT_TRUE(ranged) << "the dropped blob resumed with Range\n" << log.dump();
}

TEST_F(RegistryTest, CorruptBlobsFailNamingTheDigestAndLeaveNothing) {
  auto reg = StartRegistry({.proxy = true});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/bad:1");
  // One corrupted transfer is retried and succeeds.
  reg->SetFaults(R"([{"method":"GET","path":"/blobs/sha256:","action":"corrupt","offset":100,"times":1}])");
  Dockerfile("FROM " + reg->proxy_host() + "/bad:1\nRUN echo ok > /ok\n");
  RunResult r = Build("", "root1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Corrupted every time: fails naming a blob digest; the store holds no such blob.
  reg->SetFaults(R"([{"method":"GET","path":"/blobs/sha256:","action":"corrupt","offset":100,"times":100}])");
  r = Build("", "root2");
  ASSERT_NE(r.exit_code, 0);
  const size_t at = r.err.find("sha256:");
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_NE(r.err.find("digest mismatch"), std::string::npos) << r.err;
  // Another blob's bytes served under a layer's digest: refused the same way.
  json manifest = json::parse(ReadFileOrEmpty(s_ / ("base/blobs/sha256/" + base_digest_.substr(7))));
  const std::string layer = manifest["layers"][0]["digest"];
  const std::string config = manifest["config"]["digest"];
  reg->SetFaults(json::array({json{{"method", "GET"},
                                   {"path", "/blobs/" + layer},
                                   {"action", "swap_body"},
                                   {"with_path", "/v2/bad/blobs/" + config}}})
                     .dump());
  r = Build("", "root3");
  ASSERT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(layer), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(s_ / ("root3/content/blobs/sha256/" + layer.substr(7))));
  // Whatever digest failed, no blob under it is visible in the engine's store.
  for (const auto& e : std::filesystem::directory_iterator(s_ / "root2/content/blobs/sha256")) {
    const std::string hex = e.path().filename();
    RunResult sum = Sh("sha256sum " + Quote(e.path()));
    EXPECT_EQ(sum.out.substr(0, 64), hex) << "a blob whose bytes do not match its name";
  }
}

TEST_F(RegistryTest, PushRetriesThroughServerErrors) {
  auto reg = StartRegistry({.proxy = true});
  ASSERT_NE(reg, nullptr);
  reg->SetFaults(R"([
    {"method":"PUT","path":"/blobs/uploads/","action":"status","status":500,"times":1},
    {"method":"PUT","path":"/manifests/","action":"status","status":503,"times":1}
  ])");
  RunResult r = Hoist("layout cp " + Quote(s_ / "base") + ":1.36 docker://" + reg->proxy_host() +
                      "/pushed:1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string raw = SkopeoRaw(*reg, reg->host() + "/pushed:1");
  EXPECT_EQ(Sha256(raw, s_), base_digest_);
}

TEST_F(RegistryTest, RegistryCacheMakesASecondRootFullyCached) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/busybox:1.36");
  Dockerfile("FROM " + reg->host() + "/busybox:1.36\n"
             "RUN cat /proc/sys/kernel/random/uuid > /stamp\n");
  const std::string cache = reg->host() + "/cache:build";
  RunResult r = Build("--cache-to type=registry,ref=" + cache + ",mode=max -o type=local,dest=" +
                      Quote(s_ / "one"), "rootA");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Build("--cache-from type=registry,ref=" + cache + " -o type=local,dest=" + Quote(s_ / "two"),
            "rootB");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "one/stamp"), ReadFileOrEmpty(s_ / "two/stamp"));
  EXPECT_FALSE(ReadFileOrEmpty(s_ / "one/stamp").empty());
  // A cache that is not there only warns.
  r = Build("--cache-from type=registry,ref=" + reg->host() + "/nocache:1 -o type=local,dest=" +
                Quote(s_ / "three"),
            "rootB");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("WARNING: failed to import cache from"), std::string::npos) << r.err;
}

TEST_F(RegistryTest, LayoutCopyMovesImagesBothWaysVerified) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  RunResult up = Hoist("layout cp " + Quote(s_ / "base") + ":1.36 docker://" + reg->host() +
                       "/moved:1 -t extra");
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(Sha256(SkopeoRaw(*reg, reg->host() + "/moved:1"), s_), base_digest_);
  EXPECT_EQ(Sha256(SkopeoRaw(*reg, reg->host() + "/moved:extra"), s_), base_digest_);
  RunResult down = Hoist("layout cp docker://" + reg->host() + "/moved:1 " + Quote(s_ / "down") + ":v1");
  ASSERT_EQ(down.exit_code, 0) << down.err;
  RunResult v = Hoist("layout verify " + Quote(s_ / "down"));
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  RunResult ls = Hoist("layout ls --format json " + Quote(s_ / "down"));
  EXPECT_NE(ls.out.find(base_digest_), std::string::npos) << ls.out;
  // Registry to registry.
  RunResult both = Hoist("layout cp docker://" + reg->host() + "/moved:1 docker://" + reg->host() +
                         "/other/copy:2");
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(Sha256(SkopeoRaw(*reg, reg->host() + "/other/copy:2"), s_), base_digest_);
  // A missing source names itself.
  RunResult missing = Hoist("layout cp docker://" + reg->host() + "/absent:1 " + Quote(s_ / "x"));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find(reg->host() + "/absent:1: not found"), std::string::npos) << missing.err;
}

TEST_F(RegistryTest, DockerImageNamedContextAndWhatBuildahPushed) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  // buildah pushes (Docker media types, its own manifest bytes); hoist builds from it through
  // a named context.
  const std::string buildah = "buildah --root " + Quote(s_ / "bs") + " --runroot " + Quote(s_ / "br");
  // buildah names an oci: image after the layout's path, which must be lower case.
  const std::string lower = "/tmp/hoist-registry-test-" + std::to_string(::getpid());
  std::filesystem::remove_all(lower);
  std::filesystem::copy(s_ / "base", lower, std::filesystem::copy_options::recursive);
  RunResult pulled = Sh(buildah + " pull -q oci:" + lower + ":1.36");
  std::filesystem::remove_all(lower);
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  const std::string image_id = pulled.out.substr(0, pulled.out.find('\n'));
  RunResult pushed = Sh(buildah + " push -q --tls-verify=false --format docker " + image_id +
                        " docker://" + reg->host() + "/frombuildah:1");
  Sh(buildah + " rm -a >/dev/null 2>&1; umount -R " + Quote(s_ / "bs/overlay") + " 2>/dev/null");
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err;
  Dockerfile("FROM base\nRUN echo via-context > /v\n");
  RunResult r = Build("--build-context base=docker-image://" + reg->host() + "/frombuildah:1" +
                      " -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/v"), "via-context\n");
}

TEST_F(RegistryTest, DigestsAreServedLocallyUnlessPullIsAsked) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/busybox:1.36");
  const std::string pinned = reg->host() + "/busybox:1.36@" + base_digest_;
  Dockerfile("FROM " + pinned + "\nRUN echo one > /one\n");
  RunResult r = Build("");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string host = reg->host();
  reg.reset();  // the registry is gone
  Dockerfile("FROM " + pinned + "\nRUN echo two > /two\n");
  r = Build("-o type=local,dest=" + Quote(s_ / "offline"));
  ASSERT_EQ(r.exit_code, 0) << "a digest the engine holds needs no registry\n" << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "offline/two"), "two\n");
  r = Build("--pull");
  EXPECT_NE(r.exit_code, 0) << "--pull asks the registry";
  EXPECT_NE(r.err.find(host + "/busybox"), std::string::npos) << r.err;
}

TEST_F(RegistryTest, ImageOutputsAreFoundByNameWithResolveModeLocal) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  Dockerfile("FROM scratch\nCOPY a.txt /a.txt\n");
  WriteFile(s_ / "ctx/a.txt", "a\n");
  const std::string name = reg->host() + "/only-here:1";
  RunResult r = Build("-o type=image,name=" + name);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Dockerfile("FROM " + name + "\nCOPY a.txt /b.txt\n");
  r = Build("");
  EXPECT_NE(r.exit_code, 0) << "the registry does not have it";
  EXPECT_NE(r.err.find(name + ": not found"), std::string::npos) << r.err;
  r = Build("--opt image-resolve-mode=local -o type=local,dest=" + Quote(s_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/a.txt"), "a\n");
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/b.txt"), "a\n");
  r = Build("--opt image-resolve-mode=sometimes");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("invalid resolvemode: sometimes"), std::string::npos) << r.err;
}

TEST_F(RegistryTest, MirrorsFromTheConfigFileServePulls) {
  auto reg = StartRegistry();
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/library/busybox:1.36");
  // docker.io is out of reach here; its mirror is not.
  WriteFile(s_ / "hoist.toml", "[registry.\"docker.io\"]\n  mirrors = [\"" + reg->host() + "\"]\n");
  Dockerfile("FROM busybox:1.36\nRUN echo mirrored > /m\n");
  RunResult r = Build("-o type=local,dest=" + Quote(s_ / "out"), "root", "",
                      "--config " + Quote(s_ / "hoist.toml"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFileOrEmpty(s_ / "out/m"), "mirrored\n");
  EXPECT_NE(r.err.find("load metadata for docker.io/library/busybox:1.36"), std::string::npos)
      << r.err;
  // A broken config file is named with its problem.
  WriteFile(s_ / "bad.toml", "[registry.\"docker.io\"]\n  mirrors = \"not-a-list\"\n");
  r = Build("", "root", "", "--config " + Quote(s_ / "bad.toml"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.toml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("mirrors"), std::string::npos) << r.err;
}

TEST_F(RegistryTest, RefreshTokensFromTheDockerConfigAreTraded) {
  auto reg = StartRegistry({.auth = Auth::kToken});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/refreshed:1");
  RunResult t = Sh("curl -sf -u " + Quote(reg->username() + ":" + reg->password()) + " 'http://" +
                   reg->token_host() + "/token?service=hoist-test-registry&offline_token=true" +
                   "&client_id=test'");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  const std::string refresh = json::parse(t.out)["refresh_token"];
  std::filesystem::create_directories(s_ / "docker");
  WriteFile(s_ / "docker/config.json",
            json{{"auths", {{reg->host(), {{"identitytoken", refresh}}}}}}.dump());
  reg->ClearTokenLog();
  Dockerfile("FROM " + reg->host() + "/refreshed:1\nRUN true\n");
  RunResult r = Build("", "root", "DOCKER_CONFIG=" + Quote(s_ / "docker"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json log = json::parse(reg->TokenLog());
  ASSERT_FALSE(log.empty());
  for (const auto& e : log) EXPECT_EQ(e["kind"], "refresh_token") << e.dump();
  EXPECT_EQ(r.err.find(refresh), std::string::npos);
}

TEST_F(RegistryTest, LargeBlobsGoInChunksAndKnownBlobsAreMounted) {
  auto reg = StartRegistry({.proxy = true});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/busybox:1.36");
  // A layer larger than one upload chunk (32 MiB): random, so it stays large compressed.
  Dockerfile("FROM " + reg->proxy_host() + "/busybox:1.36\n"
             "RUN head -c 40000000 /dev/urandom > /big\n");
  // The same epoch for both builds, so that the second exports the very same config blob.
  const std::string epoch = "SOURCE_DATE_EPOCH=1700000000";
  RunResult r = Build("--provenance=false --push -t " + reg->proxy_host() + "/big:1", "root", epoch);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json log = json::parse(reg->ProxyLog());
  int patches = 0;
  for (const auto& e : log) patches += e["method"] == "PATCH" ? 1 : 0;
  EXPECT_GE(patches, 2) << log.dump();
  // The same image to another repository of the registry: the engine knows where its blobs
  // are, so they are mounted, not uploaded again.
  reg->ClearProxyLog();
  r = Build("--provenance=false --push -t " + reg->proxy_host() + "/other:1", "root", epoch);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  log = json::parse(reg->ProxyLog());
  int mounts = 0, uploads = 0;
  for (const auto& e : log) {
    const std::string path = e["path"];
    if (e["method"] == "POST" && path.find("mount=") != std::string::npos && e["status"] == 201) {
      ++mounts;
    }
    if (e["method"] == "PATCH" || (e["method"] == "PUT" && path.find("/blobs/uploads/") != std::string::npos)) {
      ++uploads;
    }
  }
  EXPECT_GE(mounts, 2) << log.dump();
  EXPECT_EQ(uploads, 0) << log.dump();
  EXPECT_FALSE(SkopeoRaw(*reg, reg->host() + "/other:1").empty());
}

TEST_F(RegistryTest, SchemaOneManifestsAreRefusedClearly) {
  auto reg = StartRegistry({.proxy = true});
  ASSERT_NE(reg, nullptr);
  // A registry that answers with an old signed schema 1 manifest.
  const std::string schema1 =
      R"({"schemaVersion":1,"name":"old","tag":"1","architecture":"amd64","fsLayers":[],"history":[]})";
  const std::string digest = Sha256(schema1, s_);
  reg->SetFaults(json::array({json{{"path", "/v2/old/manifests/"},
                                   {"action", "status"},
                                   {"status", 200},
                                   {"body", schema1},
                                   {"headers",
                                    {{"Content-Type",
                                      "application/vnd.docker.distribution.manifest.v1+prettyjws"},
                                     {"Docker-Content-Digest", digest}}}}})
                     .dump());
  Dockerfile("FROM " + reg->proxy_host() + "/old:1\n");
  RunResult r = Build("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("schema 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(reg->proxy_host() + "/old:1"), std::string::npos) << r.err;
}

TEST_F(RegistryTest, CredentialsNeverFollowAnUploadToAnotherHost) {
  auto home = StartRegistry({.auth = Auth::kBasic, .proxy = true});
  auto elsewhere = StartRegistry({.proxy = true});
  ASSERT_NE(home, nullptr);
  ASSERT_NE(elsewhere, nullptr);
  // An upload session on the other registry, which the first one's proxy then hands out as
  // the place to upload to.
  RunResult post = Sh("curl -sf -i -X POST http://" + elsewhere->proxy_host() +
                      "/v2/loot/blobs/uploads/ | tr -d '\\r' | sed -n 's/^Location: //Ip'");
  ASSERT_EQ(post.exit_code, 0) << post.err;
  std::string location = post.out.substr(0, post.out.find('\n'));
  ASSERT_FALSE(location.empty());
  if (location.starts_with("/")) location = "http://" + elsewhere->proxy_host() + location;
  home->SetFaults(json::array({json{{"method", "POST"},
                                    {"path", "/blobs/uploads/"},
                                    {"action", "status"},
                                    {"status", 202},
                                    {"body", ""},
                                    {"headers", {{"Location", location}}},
                                    {"times", 1}}})
                      .dump());
  const std::string cfg = home->WriteDockerConfig(s_ / "docker");
  Sh("DOCKER_CONFIG=" + Quote(cfg) + " " + std::string(HOIST_BIN) + " layout cp " +
     Quote(s_ / "base") + ":1.36 docker://" + home->proxy_host() + "/app:1");
  json log = json::parse(elsewhere->ProxyLog());
  int puts = 0;
  for (const auto& e : log) {
    if (e["method"] == "POST") continue;  // ours, above
    ++puts;
    EXPECT_FALSE(e["authorization"].get<bool>()) << e.dump();
  }
  EXPECT_GE(puts, 1) << "the upload went to the other host\n" << log.dump();
}

TEST_F(RegistryTest, ClientErrorsAreNotRetried) {
  auto reg = StartRegistry({.proxy = true});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/denied:1");
  reg->SetFaults(R"([{"method":"GET","path":"/blobs/sha256:","action":"status","status":403}])");
  Dockerfile("FROM " + reg->proxy_host() + "/denied:1\nRUN true\n");
  RunResult r = Build("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("denied"), std::string::npos) << r.err;
  json log = json::parse(reg->ProxyLog());
  std::map<std::string, int> gets;
  for (const auto& e : log) {
    if (e["method"] == "GET" && e["status"] == 403) ++gets[e["path"].get<std::string>()];
  }
  ASSERT_FALSE(gets.empty()) << log.dump();
  for (const auto& [path, n] : gets) EXPECT_EQ(n, 1) << path << " was asked again after a 403";
}

TEST_F(RegistryTest, LayersUnpackWhileLaterOnesAreStillDownloading) {
  auto reg = StartRegistry({.proxy = true});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/busybox:1.36");
  // A two-layer image: busybox and one more.
  Dockerfile("FROM " + reg->host() + "/busybox:1.36\nRUN echo second > /second\n");
  RunResult r = Build("--provenance=false --push -t " + reg->host() + "/two:1", "root-push");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json manifest = json::parse(SkopeoRaw(*reg, reg->host() + "/two:1"));
  ASSERT_EQ(manifest["layers"].size(), 2u);
  const std::string first = manifest["layers"][0]["digest"];
  const std::string second = manifest["layers"][1]["digest"];
  // The second layer arrives late: the first is unpacked meanwhile.
  reg->SetFaults(R"([{"method":"GET","path":"/blobs/)" + second +
                 R"(","action":"delay","seconds":2}])");
  Dockerfile("FROM " + reg->proxy_host() + "/two:1\nRUN cat /second\n");
  r = Sh(HoistCommand("--root " + Quote(s_ / "root-pull") + " build --progress=rawjson " +
                      Quote(s_ / "ctx")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t extracted_first = std::string::npos, second_done = std::string::npos;
  size_t line_no = 0;
  for (size_t from = 0; from < r.err.size(); ++line_no) {
    size_t nl = r.err.find('\n', from);
    if (nl == std::string::npos) nl = r.err.size();
    json j = json::parse(r.err.substr(from, nl - from), nullptr, false);
    from = nl + 1;
    if (!j.is_object() || !j.contains("statuses")) continue;
    for (const auto& st : j["statuses"]) {
      if (st["id"] == "extracting " + first && extracted_first == std::string::npos) {
        extracted_first = line_no;
      }
      if (st["id"] == second && st.contains("completed") && second_done == std::string::npos) {
        second_done = line_no;
      }
    }
  }
  ASSERT_NE(extracted_first, std::string::npos) << r.err;
  ASSERT_NE(second_done, std::string::npos) << r.err;
  EXPECT_LT(extracted_first, second_done) << r.err;
}

TEST_F(RegistryTest, LoginToATokenRegistryKeepsARefreshTokenNotThePassword) {
  auto reg = StartRegistry({.auth = Auth::kToken});
  ASSERT_NE(reg, nullptr);
  SkopeoPush(*reg, reg->host() + "/kept:1");
  const std::string env = "DOCKER_CONFIG=" + Quote(s_ / "docker");
  RunResult ok = Sh("printf '%s\\n' " + Quote(reg->password()) + " | " + env + " " +
                    std::string(HOIST_BIN) + " login -u " + reg->username() +
                    " --password-stdin " + reg->host());
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const std::string text = ReadFileOrEmpty(s_ / "docker/config.json");
  EXPECT_EQ(text.find(reg->password()), std::string::npos) << "the password is not stored";
  json config = json::parse(text);
  ASSERT_TRUE(config["auths"].contains(reg->host())) << text;
  EXPECT_FALSE(config["auths"][reg->host()].value("identitytoken", "").empty()) << text;
  // Builds use it (through the OAuth2 refresh grant).
  reg->ClearTokenLog();
  Dockerfile("FROM " + reg->host() + "/kept:1\nRUN true\n");
  RunResult r = Build("", "root", env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json log = json::parse(reg->TokenLog());
  ASSERT_FALSE(log.empty());
  for (const auto& e : log) EXPECT_EQ(e["kind"], "refresh_token") << e.dump();
}

}  // namespace
}  // namespace hoist::itest
