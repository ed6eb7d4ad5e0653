#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "control/attrs.h"
#include "control/frontend_attrs.h"
#include "control/gateway_builds.h"
#include "control/progress_hub.h"
#include "control/provenance.h"
#include "llb/llb.h"


namespace hoist::control {
namespace {

TEST(FrontendAttrsTest, MapsBuildxAttributes) {
  Attrs a = {{"build-arg:A", "1"},       {"label:org.x", "y"},
             {"platform", "linux/arm64,linux/amd64"},
             {"target", "final"},        {"filename", "app.Dockerfile"},
             {"no-cache", ""},           {"context:base", "oci-layout://s@sha256:00"},
             {"build-arg:SOURCE_DATE_EPOCH", "42"}};
  auto s = ParseFrontendAttrs(a);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_EQ(s->convert.build_args.at("A"), "1");
  EXPECT_EQ(s->convert.labels.at("org.x"), "y");
  EXPECT_EQ(s->convert.target, "final");
  EXPECT_EQ(s->filename, "app.Dockerfile");
  EXPECT_TRUE(s->no_cache);
  ASSERT_EQ(s->platforms.size(), 2u);
  EXPECT_EQ(s->platforms[0]->architecture, "arm64");
  EXPECT_EQ(s->platforms[1]->architecture, "amd64");
  EXPECT_EQ(s->epoch, 42);
  EXPECT_EQ(s->convert.frontend_opts.at("context:base"), "oci-layout://s@sha256:00");
  EXPECT_TRUE(s->warnings.empty());
}

TEST(FrontendAttrsTest, DefaultsAndUnknownKeys) {
  auto s = ParseFrontendAttrs({{"attest:provenance", "mode=min"}, {"add-hosts", "a:1.2.3.4"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->filename, "Dockerfile");
  EXPECT_EQ(s->context_local, "context");
  EXPECT_EQ(s->dockerfile_local, "dockerfile");
  ASSERT_EQ(s->platforms.size(), 1u);
  EXPECT_FALSE(s->platforms[0].has_value());
  EXPECT_FALSE(s->no_cache);
  ASSERT_EQ(s->warnings.size(), 1u);
  EXPECT_NE(s->warnings[0].find("add-hosts"), std::string::npos);
}

TEST(FrontendAttrsTest, RejectsBadValues) {
  auto epoch = ParseFrontendAttrs({{"build-arg:SOURCE_DATE_EPOCH", "soon"}});
  ASSERT_FALSE(epoch);
  EXPECT_NE(epoch.error().message().find("SOURCE_DATE_EPOCH \"soon\""), std::string::npos);
  EXPECT_FALSE(ParseFrontendAttrs({{"platform", "linux/amd64/v2/x"}}));
  auto mode = ParseFrontendAttrs({{"image-resolve-mode", "sometimes"}});
  ASSERT_FALSE(mode);
  EXPECT_EQ(mode.error().code(), Code::kInvalidArgument);
}

TEST(SyntaxDirectiveTest, BuiltInServesDockerfileOne) {
  for (const char* df : {"# syntax=docker/dockerfile:1\nFROM scratch\n",
                         "# syntax=docker/dockerfile:1.4.3\nFROM scratch\n",
                         "# syntax=docker.io/docker/dockerfile:1@sha256:abc\nFROM scratch\n"}) {
    auto r = CheckSyntaxDirective(df);
    ASSERT_TRUE(r) << df;
    ASSERT_TRUE(r->has_value()) << df;
    EXPECT_NE((*r)->find("built-in"), std::string::npos);
  }
  auto none = CheckSyntaxDirective("FROM scratch\n");
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

TEST(SyntaxDirectiveTest, OtherFrontendImagesFailClearly) {
  auto r = CheckSyntaxDirective("# syntax=example.com/my/frontend:2\nFROM scratch\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kUnimplemented);
  EXPECT_NE(r.error().message().find("example.com/my/frontend:2"), std::string::npos);
  EXPECT_FALSE(CheckSyntaxDirective("# syntax=docker/dockerfile:0.9\nFROM scratch\n"));
}

TEST(AttrsTest, BoolAndList) {
  Attrs a = {{"push", "True"}, {"tar", "0"}, {"bad", "yes"}, {"name", "a:1,,b:2"}};
  EXPECT_EQ(*BoolAttr(a, "push", false), true);
  EXPECT_EQ(*BoolAttr(a, "tar", true), false);
  EXPECT_EQ(*BoolAttr(a, "absent", true), true);
  EXPECT_FALSE(BoolAttr(a, "bad", false));
  EXPECT_EQ(ListAttr(a, "name"), (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_TRUE(ListAttr(a, "absent").empty());
}

TEST(ProgressHubTest, AWatcherThatComesFirstSeesEverything) {
  ProgressHub hub;
  std::vector<std::string> seen;
  std::thread watcher([&] {
    auto p = hub.Watch("ref1", std::chrono::seconds(5));
    ASSERT_TRUE(p);
    size_t next = 0;
    while (auto batch = (*p)->Next(&next, std::chrono::milliseconds(50))) {
      for (const auto& s : *batch) seen.push_back(s.vertexes.at(0).name);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto p = hub.Open("ref1");
  ASSERT_TRUE(p);
  (*p)->Write({.vertexes = {{.digest = "d1", .name = "one"}}});
  (*p)->Write({.vertexes = {{.digest = "d2", .name = "two"}}});
  (*p)->Close();
  watcher.join();
  EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
  // A late watcher still reads the finished stream.
  auto late = hub.Watch("ref1", std::chrono::milliseconds(10));
  ASSERT_TRUE(late);
  size_t next = 0;
  auto all = (*late)->Next(&next, std::chrono::milliseconds(10));
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);
  EXPECT_FALSE((*late)->Next(&next, std::chrono::milliseconds(10)));
}

TEST(ProgressHubTest, UnknownRefTimesOutAndRunningRefIsUnique) {
  ProgressHub hub;
  auto missing = hub.Watch("nope", std::chrono::milliseconds(20));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  ASSERT_TRUE(hub.Open("r"));
  auto again = hub.Open("r");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kAlreadyExists);
}

TEST(ProgressHubTest, ExpiredStreamsAreDropped) {
  ProgressHub hub(std::chrono::seconds(0));
  auto p = hub.Open("old");
  ASSERT_TRUE(p);
  (*p)->Close();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(hub.Open("other"));  // drops "old"
  EXPECT_FALSE(hub.Watch("old", std::chrono::milliseconds(1)));
}

TEST(FrontendAttrsTest, FrontendsServedByTheBuiltInOne) {
  for (const char* f : {"", "dockerfile.v0"}) {
    auto r = CheckFrontend(f, {});
    ASSERT_TRUE(r) << f;
    EXPECT_FALSE(r->has_value()) << f;
  }
  for (const char* src : {"docker/dockerfile:1", "docker/dockerfile:1.5",
                          "docker.io/docker/dockerfile:1@sha256:00", "docker/dockerfile"}) {
    auto r = CheckFrontend("gateway.v0", {{"source", src}});
    ASSERT_TRUE(r) << src;
    ASSERT_TRUE(r->has_value()) << src;
    EXPECT_NE((*r)->find("built-in Dockerfile frontend"), std::string::npos);
  }
  auto image = CheckFrontend("gateway.v0", {{"source", "example.com/my/frontend:2"}});
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code(), Code::kUnimplemented);
  EXPECT_NE(image.error().message().find("example.com/my/frontend:2"), std::string::npos);
  auto no_source = CheckFrontend("gateway.v0", {});
  ASSERT_FALSE(no_source);
  EXPECT_EQ(no_source.error().code(), Code::kInvalidArgument);
  auto other = CheckFrontend("other.v1", {});
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message().find("frontend other.v1 is not available"), std::string::npos);
  // `source` is the frontend's, not an unknown option.
  auto s = ParseFrontendAttrs({{"source", "docker/dockerfile:1"}});
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->warnings.empty());
}

std::shared_ptr<BuildResult> ResultOf(size_t platforms) {
  auto r = std::make_shared<BuildResult>();
  r->results.resize(platforms);
  return r;
}

TEST(GatewayBuildTest, ReturnExportsTheSolveItNames) {
  auto cancel = CancelContext::Background();
  GatewayBuild b("sess", {}, {}, nullptr, cancel);
  auto first = ResultOf(1);
  auto multi = ResultOf(2);
  std::vector<std::string> one = b.AddResult(first);
  std::vector<std::string> two = b.AddResult(multi);
  ASSERT_EQ(one.size(), 1u);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_NE(two[0], two[1]);

  // Refused returns leave the build waiting for a good one.
  auto unknown = b.Return({"nope"});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message().find("unknown ref nope"), std::string::npos);
  auto mixed = b.Return({one[0], two[0]});
  ASSERT_FALSE(mixed);
  EXPECT_NE(mixed.error().message().find("several solves"), std::string::npos);
  auto part = b.Return({two[1]});
  ASSERT_FALSE(part);
  EXPECT_NE(part.error().message().find("1 of the 2 platforms"), std::string::npos);

  std::thread returner([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(b.Return({two[1], two[0]}));
  });
  auto got = b.Wait();
  returner.join();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->get(), multi.get());
  auto again = b.Return({one[0]});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), Code::kFailedPrecondition);
}

TEST(GatewayBuildTest, AnEmptyReturnEndsTheBuildWithNothingBuilt) {
  // buildx's first build on a builder reads its capabilities and returns no result: the build
  // ends at once, with nothing to export, rather than when the client gives up on it.
  GatewayBuild b("s", {}, {}, nullptr, CancelContext::Background());
  b.AddResult(ResultOf(1));
  ASSERT_TRUE(b.Return({}));
  auto got = b.Wait();
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE((*got)->results.empty());
  EXPECT_EQ(b.Return({}).error().code(), Code::kFailedPrecondition);
}

TEST(GatewayBuildTest, AReturnedErrorFailsTheBuildAndCancelEndsTheWait) {
  GatewayBuild failed("s", {}, {}, nullptr, CancelContext::Background());
  ASSERT_TRUE(failed.ReturnError(Error(Code::kInvalidArgument, "frontend said no")));
  auto r = failed.Wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "frontend said no");

  auto cancel = CancelContext::Background();
  GatewayBuild waiting("s", {}, {}, nullptr, cancel);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cancel->Cancel("context canceled");
  });
  auto w = waiting.Wait();
  canceller.join();
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kCancelled);
}

TEST(GatewayBuildsTest, FindWaitsForTheBuildToOpen) {
  GatewayBuilds builds;
  auto missing = builds.Find("r", std::chrono::milliseconds(10));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), Code::kNotFound);
  auto b = std::make_shared<GatewayBuild>("s", std::vector<TypedAttrs>{}, solver::EntitlementSet{},
                                          nullptr,
                                          CancelContext::Background());
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_TRUE(builds.Open("r", b));
  });
  auto found = builds.Find("r", std::chrono::seconds(5));
  opener.join();
  ASSERT_TRUE(found);
  EXPECT_EQ(found->get(), b.get());
  auto dup = builds.Open("r", b);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
  builds.Close("r");
  EXPECT_FALSE(builds.Find("r", std::chrono::milliseconds(1)));
}


TEST(AttestRequestTest, ParsesBuildxAndBuildctlSpellings) {
  auto none = ParseAttestRequest({{"build-arg:A", "1"}});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  // buildctl --opt attest:provenance= : BuildKit's defaults (max).
  auto dflt = ParseAttestRequest({{"attest:provenance", ""}});
  ASSERT_TRUE(dflt);
  ASSERT_TRUE(dflt->provenance);
  EXPECT_TRUE(dflt->provenance->max);
  EXPECT_FALSE(dflt->provenance->inline_only);
  EXPECT_EQ(dflt->provenance->filename, "provenance.json");
  // buildx's default and its --attest value, with the type key and quoting.
  auto bx = ParseAttestRequest({{"attest:provenance", "mode=min,inline-only=true"},
                                {"attest:sbom", "type=sbom,\"generator=img:1\""}});
  ASSERT_TRUE(bx) << bx.error().message();
  EXPECT_FALSE(bx->provenance->max);
  EXPECT_TRUE(bx->provenance->inline_only);
  ASSERT_TRUE(bx->sbom);
  EXPECT_EQ(bx->sbom->generator, "img:1");
  auto args = ParseAttestRequest({{"build-arg:BUILDKIT_ATTEST_SBOM", ""},
                                  {"attest:provenance", "type=provenance,enabled=false"}});
  ASSERT_TRUE(args);
  EXPECT_TRUE(args->sbom);
  EXPECT_FALSE(args->provenance);
  auto full = ParseAttestRequest({{"attest:provenance", "mode=full,builder-id=https://ci/1,"
                                                        "reproducible=true,filename=p.json"}});
  ASSERT_TRUE(full);
  EXPECT_TRUE(full->provenance->max);
  EXPECT_EQ(full->provenance->builder_id, "https://ci/1");
  EXPECT_TRUE(full->provenance->reproducible);
  EXPECT_EQ(full->provenance->filename, "p.json");
  struct Bad {
    Attrs attrs;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {{{"attest:vex", ""}}, "unknown attestation type \"vex\""},
           {{{"attest:provenance", "mode=most"}}, "invalid mode \"most\""},
           {{{"attest:provenance", "filename=../x"}}, "invalid filename"},
           {{{"attest:provenance", "\"mode=min"}}, "failed to parse provenance"},
           {{{"attest:sbom", "enabled=perhaps"}}, "enabled"}}) {
    auto r = ParseAttestRequest(b.attrs);
    ASSERT_FALSE(r) << b.message;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find(b.message), std::string::npos) << r.error().message();
  }
}

class ProvenanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string manifest = "sha256:" + std::string(64, 'a');
    llb::ImageOptions io;
    io.op.platform = oci::Platform{.os = "linux", .architecture = "amd64"};
    llb::State base = llb::Image("alpine:3.18@" + manifest, io);
    llb::State git = llb::Git("https://user:s3cret@example.com/r.git", "", {.ref = "main"});
    llb::State run = base.Run({.args = {"make"},
                               .mounts = {llb::BindMount("/src", llb::Local("context"), true),
                                          llb::BindMount("/git", git, true)},
                               .secrets = {{.id = "tok", .target = "/run/secrets/tok"}}})
                         .Root();
    auto def = llb::Marshal(run);
    ASSERT_TRUE(def) << def.error().message();
    def_ = *def;
    auto git_def = llb::Marshal(git);
    auto base_def = llb::Marshal(base);
    ASSERT_TRUE(git_def && base_def);
    vertices_ = {{.digest = **git_def->Head(), .pin = std::string(40, 'c')},
                 {.digest = **base_def->Head(), .pin = "sha256:" + std::string(64, 'b')}};
    in_.frontend_attrs = {{"filename", "Dockerfile"},
                          {"build-arg:TOKEN", "x"},
                          {"label:l", "v"},
                          {"target", "final"},
                          {"image-resolve-mode", "pull"},
                          {"attest:provenance", "mode=max"},
                          {"context:base", "oci-layout://st0re1d@sha256:" + std::string(64, 'd')}};
    in_.definition = &def_;
    in_.vertices = &vertices_;
    in_.dockerfile_name = "Dockerfile";
    in_.dockerfile = "FROM alpine\nRUN make\n";
    in_.started_ns = 1700000000123456789;
    in_.finished_ns = 1700000001000000000;
    in_.invocation_id = "inv1";
  }
  nlohmann::json Predicate(bool max) {
    auto p = ProvenancePredicate({.max = max}, in_);
    EXPECT_TRUE(p) << p.error().message();
    return p ? nlohmann::json::parse(*p) : nlohmann::json();
  }
  llb::Definition def_;
  std::vector<solver::SolvedVertex> vertices_;
  ProvenanceInput in_;
};

TEST_F(ProvenanceTest, MinRecordsMaterialsAndInvocationWithoutBuildArgs) {
  const nlohmann::json p = Predicate(false);
  EXPECT_EQ(p["buildType"], "https://mobyproject.org/buildkit@v1");
  EXPECT_EQ(p["builder"]["id"], "");
  // The image by its resolved digest (the pin), the git source by commit, credentials gone.
  ASSERT_EQ(p["materials"].size(), 2u) << p["materials"].dump();
  EXPECT_EQ(p["materials"][0]["uri"],
            "pkg:docker/alpine@3.18?digest=sha256%3A" + std::string(64, 'a') +
                "&platform=linux%2Famd64");
  EXPECT_EQ(p["materials"][0]["digest"]["sha256"], std::string(64, 'b'));
  EXPECT_EQ(p["materials"][1]["uri"], "https://example.com/r.git#main");
  EXPECT_EQ(p["materials"][1]["digest"]["sha1"], std::string(40, 'c'));
  EXPECT_EQ(p.dump().find("s3cret"), std::string::npos);
  const nlohmann::json& inv = p["invocation"];
  EXPECT_EQ(inv["configSource"]["entryPoint"], "Dockerfile");
  EXPECT_EQ(inv["parameters"]["frontend"], "dockerfile.v0");
  EXPECT_EQ(inv["parameters"]["args"],
            nlohmann::json({{"target", "final"},
                            {"context:base", "oci-layout://base@sha256:" + std::string(64, 'd')}}));
  EXPECT_FALSE(inv["parameters"].contains("secrets"));
  EXPECT_EQ(inv["parameters"]["locals"],
            nlohmann::json::array({{{"name", "context"}}, {{"name", "dockerfile"}}}));
  EXPECT_FALSE(p.contains("buildConfig"));
  const nlohmann::json& md = p["metadata"];
  EXPECT_EQ(md["buildInvocationID"], "inv1");
  EXPECT_EQ(md["buildStartedOn"], "2023-11-14T22:13:20.123456789Z");
  EXPECT_EQ(md["buildFinishedOn"], "2023-11-14T22:13:21Z");
  EXPECT_EQ(md["completeness"],
            nlohmann::json({{"parameters", false}, {"environment", true}, {"materials", false}}));
  EXPECT_FALSE(md.contains("https://mobyproject.org/buildkit@v1#hermetic"));
}

TEST_F(ProvenanceTest, MaxAddsSecretsStepsAndTheDockerfile) {
  const nlohmann::json p = Predicate(true);
  const nlohmann::json& params = p["invocation"]["parameters"];
  EXPECT_EQ(params["args"]["build-arg:TOKEN"], "x");
  // The git source's token and header secrets (optional, as BuildKit names them), the step's.
  EXPECT_EQ(params["secrets"], nlohmann::json::parse(R"([{"id":"GIT_AUTH_TOKEN","optional":true},)"
                                                     R"({"id":"GIT_AUTH_HEADER","optional":true},)"
                                                     R"({"id":"tok"}])"));
  const nlohmann::json& steps = p["buildConfig"]["llbDefinition"];
  ASSERT_EQ(steps.size(), def_.def.size());
  EXPECT_EQ(steps[0]["id"], "step0");
  // Dependencies first; the last step selects the result from the one before it.
  EXPECT_EQ(steps.back()["inputs"], nlohmann::json::array({fmt::format("step{}:0", steps.size() - 2)}));
  const nlohmann::json& exec = steps[steps.size() - 2];
  EXPECT_TRUE(exec["op"]["Op"].contains("exec"));
  EXPECT_EQ(exec["inputs"].size(), 3u);
  EXPECT_EQ(p.dump().find("local.session"), std::string::npos);
  EXPECT_EQ(p["buildConfig"]["digestMapping"].size(), def_.def.size());
  const nlohmann::json& src = p["metadata"]["https://mobyproject.org/buildkit@v1#metadata"]["source"];
  EXPECT_EQ(src["infos"][0]["filename"], "Dockerfile");
  EXPECT_EQ(src["infos"][0]["data"], "RlJPTSBhbHBpbmUKUlVOIG1ha2UK");
}

TEST_F(ProvenanceTest, ArgumentsThatAreNotUtf8AreReplaced) {
  in_.frontend_attrs["build-arg:RAW"] = "a\xff";
  const nlohmann::json p = Predicate(true);
  EXPECT_EQ(p["invocation"]["parameters"]["args"]["build-arg:RAW"], "a\xef\xbf\xbd");
}

TEST_F(ProvenanceTest, SourceDateEpochMakesItReproducible) {
  in_.epoch = 1600000000;
  const nlohmann::json a = Predicate(true);
  in_.started_ns += 5;
  in_.finished_ns += 7;
  in_.invocation_id = "other";
  const nlohmann::json b = Predicate(true);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a["metadata"]["buildStartedOn"], "2020-09-13T12:26:40Z");
  EXPECT_EQ(a["metadata"]["buildFinishedOn"], "2020-09-13T12:26:40Z");
}

TEST_F(ProvenanceTest, AHermeticBuildSaysSo) {
  llb::State st = llb::Image("alpine@sha256:" + std::string(64, 'a'))
                      .Network(llb::NetMode::kNone)
                      .Run({.args = {"true"}})
                      .Root();
  auto def = llb::Marshal(st);
  ASSERT_TRUE(def);
  def_ = *def;
  in_.dockerfile_local = false;
  const nlohmann::json p = Predicate(false);
  EXPECT_EQ(p["metadata"]["https://mobyproject.org/buildkit@v1#hermetic"], true);
  EXPECT_EQ(p["metadata"]["completeness"]["materials"], true);
  // No pin for this image: the digest in its reference.
  EXPECT_EQ(p["materials"][0]["digest"]["sha256"], std::string(64, 'a'));
}
}  // namespace
}  // namespace hoist::control
