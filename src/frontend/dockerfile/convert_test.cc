// ConvertToLLB: the golden conversion of testdata/convert/convert.Dockerfile (LLB dump and
// image config), semantics of args, stages and config assembly, every error path, and the
// shared Dockerfile corpus.
#include "frontend/dockerfile/convert.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/testing/corpus.h"
#include "frontend/dockerfile/testing/fake_image_meta_resolver.h"
#include "llb/dump.h"

namespace hoist::frontend::dockerfile {
namespace {

using testing::FakeImageMetaResolver;

oci::Platform Amd64() { return oci::Platform{"linux", "amd64", "", "", {}}; }

std::string ImageJson(const std::string& env_json, const std::string& extra = "") {
  return R"({"architecture":"amd64","os":"linux","config":{"Env":)" + env_json + extra +
         R"(},"rootfs":{"type":"layers","diff_ids":["sha256:)" + std::string(64, 'a') +
         R"("]},"history":[{"created_by":"base"}]})";
}

ResolvedImageConfig Resolved(std::string ref, std::string config) {
  ResolvedImageConfig r;
  r.ref = std::move(ref);
  r.digest = oci::Digest::Sha256Of(config);
  r.config_json = std::move(config);
  return r;
}

struct Fixture {
  FakeImageMetaResolver resolver;
  ConvertOptions opts;
  Fixture() {
    resolver.Add(
        "docker.io/library/alpine:3.20",
        Resolved("docker.io/library/alpine:3.20",
                 ImageJson(R"(["PATH=/usr/bin:/bin","LANG=C"])", R"(,"WorkingDir":"/root")")));
    resolver.Add("docker.io/library/busybox:1.36",
                 Resolved("docker.io/library/busybox:1.36", ImageJson(R"(["PATH=/bin"])")));
    opts.resolver = &resolver;
    opts.target_platforms = {Amd64()};
    opts.build_platform = Amd64();
    opts.local_unique_id = "unique";
    opts.session_id = "sess";
    opts.dockerignore = "*.log\n!keep.log\n";
  }
};

std::string TestDataPath(const std::string& name) {
  // Not __FILE__: ccache's base-dir rewriting makes it relative to the build dir.
  return std::string(HOIST_SOURCE_DIR) + "/src/frontend/dockerfile/testdata/convert/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void CompareGolden(const std::string& name, const std::string& got) {
  std::string path = TestDataPath(name);
  if (std::getenv("HOIST_UPDATE_GOLDEN")) std::ofstream(path, std::ios::binary) << got;
  ASSERT_TRUE(std::filesystem::exists(path))
      << path << " is missing; run with HOIST_UPDATE_GOLDEN=1";
  EXPECT_EQ(got, ReadAll(path)) << name << " differs; run with HOIST_UPDATE_GOLDEN=1 to update";
}

Result<ConvertResult> Convert(std::string_view df, Fixture& f) { return ConvertToLLB(df, f.opts); }

std::string ErrorOf(std::string_view df, Fixture& f) {
  auto r = Convert(df, f);
  if (r) return "<no error>";
  return r.error().message();
}

std::string Dump(const ConvertResult& r) {
  auto dump = llb::DumpLLB(r.definition);
  return dump ? *dump : "<dump failed: " + dump.error().message() + ">";
}

TEST(ConvertGolden, EveryInstruction) {
  Fixture f;
  f.opts.build_args = {{"VERSION", "2.0"}};
  f.opts.source_date_epoch = 1700000000;
  f.opts.labels = {{"extra", "label"}};
  auto res = ConvertToLLB(ReadAll(TestDataPath("convert.Dockerfile")), f.opts);
  ASSERT_TRUE(res) << res.error().message();
  CompareGolden("convert.llb.txt", Dump(*res));
  CompareGolden("convert.config.json", oci::SerializeImageConfig(res->image) + "\n");
}

TEST(Convert, ArgScopingAndPlatformArgs) {
  Fixture f;
  f.opts.build_args = {{"B", "from-cli"}, {"UNUSED", "x"}};
  auto r = Convert(
      "ARG A=global\nARG B=default\nFROM scratch\nARG A\nARG B\nARG C=$A-$B\n"
      "ARG TARGETPLATFORM\nARG BUILDARCH\nENV X=$A/$B/$C/$TARGETPLATFORM/$BUILDARCH\n",
      f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->image.config.env.back(), "X=global/from-cli/global-from-cli/linux/amd64/amd64");
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_EQ(r->warnings.back().short_message, "One or more build-args [UNUSED] were not consumed");
}

// LLB holds text as protobuf strings, which must be UTF-8: a Dockerfile or build arg that is not
// is refused at once, naming the line, instead of making ops nobody can read back.
TEST(Convert, TextThatIsNotUtf8IsRefused) {
  Fixture f;
  auto r = Convert("FROM scratch\nENV A=ok\nENV B=caf\xe9\n", f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.error().message(), "Dockerfile:3: the Dockerfile is not valid UTF-8");
  EXPECT_TRUE(Convert("FROM scratch\nENV B=caf\xc3\xa9\n", f));
  f.opts.build_args = {{"X", "\xff"}};
  r = Convert("FROM scratch\nARG X\nENV Y=$X\n", f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "a --build-arg is not valid UTF-8");
}

TEST(Convert, UndeclaredGlobalArgIsNotVisibleInStage) {
  Fixture f;
  auto r = Convert("ARG A=global\nFROM scratch\nENV X=[$A]\n", f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->image.config.env.back(), "X=[]");
}

TEST(Convert, TargetPrunesUnusedStagesAndStageByIndex) {
  Fixture f;
  f.opts.target = "two";
  auto r = Convert(
      "FROM busybox:1.36 AS one\nRUN echo one\nFROM scratch AS unused\nRUN echo never\n"
      "FROM scratch AS two\nCOPY --from=0 /bin /bin\n",
      f);
  ASSERT_TRUE(r) << r.error().message();
  std::string dump = Dump(*r);
  EXPECT_NE(dump.find("echo one"), std::string::npos) << dump;
  EXPECT_EQ(dump.find("never"), std::string::npos) << dump;
  EXPECT_NE(dump.find("[two 1/1] COPY --from=0 /bin /bin"), std::string::npos) << dump;
}

TEST(Convert, ImageConfigAssembly) {
  Fixture f;
  auto r = Convert(
      "FROM alpine:3.20\nCMD [\"a\"]\nFROM alpine:3.20 AS b\nCMD [\"a\"]\nFROM b\n"
      "ENTRYPOINT [\"e\"]\n",
      f);
  ASSERT_TRUE(r) << r.error().message();
  // ENTRYPOINT resets a CMD that was not set in the same stage.
  EXPECT_FALSE(r->image.config.cmd.has_value());
  EXPECT_EQ(r->image.config.working_dir, "/root");
  EXPECT_EQ(r->image.config.env, (std::vector<std::string>{"PATH=/usr/bin:/bin", "LANG=C"}));
  ASSERT_EQ(r->image.history.size(), 3u);
  EXPECT_EQ(r->image.history[2].created_by, "ENTRYPOINT [\"e\"]");
  EXPECT_TRUE(r->image.history[2].empty_layer);
  ASSERT_TRUE(r->base_image.has_value());

  auto r2 = Convert("FROM alpine:3.20\nCMD [\"a\"]\nENTRYPOINT [\"e\"]\n", f);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->image.config.cmd, (std::vector<std::string>{"a"}));
  EXPECT_TRUE(r2->image.config.args_escaped);
}

TEST(Convert, OnbuildTriggersOfAStageRunInTheConsumer) {
  Fixture f;
  auto r =
      Convert("FROM busybox:1.36 AS base\nONBUILD RUN echo hi\nFROM base\nRUN echo after\n", f);
  ASSERT_TRUE(r) << r.error().message();
  std::string dump = Dump(*r);
  EXPECT_NE(dump.find("[stage-1 1/2] ONBUILD RUN echo hi"), std::string::npos) << dump;
  EXPECT_TRUE(r->image.config.on_build.empty());
}

TEST(Convert, OnbuildTriggersOfABaseImageRun) {
  Fixture f;
  f.resolver.Add("docker.io/library/ob:latest",
                 Resolved("docker.io/library/ob:latest",
                          ImageJson(R"([])", R"(,"OnBuild":["RUN echo from-image"])")));
  auto r = Convert("FROM ob\n", f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(Dump(*r).find("echo from-image"), std::string::npos);
}

TEST(Convert, NullResolverLeavesConfigEmpty) {
  Fixture f;
  f.opts.resolver = nullptr;
  auto r = Convert("FROM alpine\nRUN true\n", f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->image.config.env,
            (std::vector<std::string>{
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
  EXPECT_NE(Dump(*r).find("docker-image://docker.io/library/alpine:latest"), std::string::npos);
}

TEST(Convert, DockerignoreBecomesContextExcludes) {
  Fixture f;
  auto r = Convert("FROM scratch\nCOPY a /a\n", f);
  ASSERT_TRUE(r) << r.error().message();
  std::string dump = Dump(*r);
  EXPECT_NE(dump.find("*.log"), std::string::npos) << dump;
  EXPECT_NE(dump.find("!keep.log"), std::string::npos) << dump;
  EXPECT_NE(dump.find("[internal] load build context"), std::string::npos) << dump;
}

TEST(Convert, FromPlatformAndPlatformArgs) {
  Fixture f;
  f.opts.target_platforms = {oci::Platform{"linux", "arm64", "", "", {}}};
  auto r = Convert(
      "FROM --platform=$BUILDPLATFORM busybox:1.36 AS b\nARG TARGETSTAGE\nARG TARGETPLATFORM\n"
      "ARG BUILDPLATFORM\nENV S=$TARGETSTAGE T=$TARGETPLATFORM B=$BUILDPLATFORM\n",
      f);
  ASSERT_TRUE(r) << r.error().message();
  auto calls = f.resolver.calls();
  ASSERT_EQ(calls.size(), 1u);
  ASSERT_TRUE(calls[0].options.platform.has_value());
  EXPECT_EQ(oci::FormatPlatform(*calls[0].options.platform), "linux/amd64");
  EXPECT_EQ(r->image.config.env.back(), "B=linux/amd64");
  EXPECT_EQ(r->image.config.env[r->image.config.env.size() - 3], "S=b");
  EXPECT_EQ(r->image.config.env[r->image.config.env.size() - 2], "T=linux/arm64");
  // An explicit target platform wins in the exported config.
  EXPECT_EQ(r->image.architecture, "arm64");
}

TEST(Convert, ImplicitTargetPlatformFollowsBaseImage) {
  Fixture f;
  f.opts.target_platforms.clear();
  auto r = Convert("FROM busybox:1.36\n", f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->image.os, "linux");
  EXPECT_EQ(r->image.architecture, "amd64");
}

TEST(Convert, ProxyBuildArgsReachRunButNotHistory) {
  Fixture f;
  f.opts.build_args = {{"HTTP_PROXY", "http://proxy:3128"}};
  auto r = Convert("FROM busybox:1.36\nRUN wget x\n", f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(Dump(*r).find("http://proxy:3128"), std::string::npos);
  EXPECT_EQ(r->image.history.back().created_by, "RUN /bin/sh -c wget x # buildkit");
  EXPECT_TRUE(r->warnings.empty());
}

TEST(Convert, QuotedHeredocIsNotExpanded) {
  Fixture f;
  auto r = Convert("FROM scratch\nARG V=1\nCOPY <<'EOF' /a\n$V\nEOF\nCOPY <<EOF /b\n$V\nEOF\n", f);
  ASSERT_TRUE(r) << r.error().message();
  std::string dump = Dump(*r);
  EXPECT_NE(dump.find("\"data\":\"JFYK\""), std::string::npos) << dump;  // "$V\n"
  EXPECT_NE(dump.find("\"data\":\"MQo=\""), std::string::npos) << dump;  // "1\n"
}

TEST(Convert, SingleStageHasNoStageNameInOpNames) {
  Fixture f;
  auto r = Convert("FROM busybox:1.36 AS only\nRUN true\n", f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_NE(Dump(*r).find("\"[2/2] RUN true\""), std::string::npos) << Dump(*r);
}

// Named contexts (SPEC-oci-layout.md §2, §5 items 7 and 8).
TEST(ConvertNamedContext, StageReplacedByOciLayoutAndEnvFlows) {
  Fixture f;
  const std::string digest = "sha256:" + std::string(64, 'b');
  f.opts.frontend_opts["context:base"] = "oci-layout://store@" + digest;
  f.resolver.Add("docker.io/library/base@" + digest,
                 Resolved("docker.io/library/base@" + digest,
                          ImageJson(R"(["PATH=/bin","FOO=from-layout"])", R"(,"WorkingDir":"/w")")),
                 "store");
  auto r = Convert("FROM nonexistent AS base\nRUN exit 1\nFROM base\nRUN echo $FOO\n", f);
  ASSERT_TRUE(r) << r.error().message();
  std::string dump = Dump(*r);
  EXPECT_EQ(dump.find("exit 1"), std::string::npos) << dump;
  EXPECT_NE(dump.find("oci-layout://docker.io/library/base@" + digest), std::string::npos) << dump;
  EXPECT_NE(dump.find("FOO=from-layout"), std::string::npos) << dump;
  EXPECT_EQ(r->image.config.working_dir, "/w");
  EXPECT_EQ(r->image.config.env, (std::vector<std::string>{"PATH=/bin", "FOO=from-layout"}));
}

TEST(ConvertNamedContext, BaseReplacedByImage) {
  Fixture f;
  f.opts.frontend_opts["context:foo"] = "docker-image://busybox:1.36";
  auto r = Convert("FROM foo\nRUN true\n", f);
  ASSERT_TRUE(r) << r.error().message();
  std::string dump = Dump(*r);
  EXPECT_NE(dump.find("docker-image://docker.io/library/busybox:1.36"), std::string::npos) << dump;
  EXPECT_EQ(r->image.config.env, (std::vector<std::string>{"PATH=/bin"}));
  ASSERT_TRUE(r->base_image.has_value());
}

TEST(ConvertNamedContext, ErrorsCarryTheFromLine) {
  Fixture f;
  f.opts.frontend_opts["context:foo"] = "oci-layout://store:v1";
  EXPECT_EQ(ErrorOf("\nFROM foo\n", f),
            "Dockerfile:2: oci-layout reference \"store:v1\" has no digest");
}

struct ErrorCase {
  const char* dockerfile;
  const char* message;
};

TEST(ConvertErrors, Messages) {
  const ErrorCase cases[] = {
      {"", "the Dockerfile cannot be empty"},
      {"# only a comment\n", "Dockerfile:1: file with no instruction"},
      {"RUN x\n", "Dockerfile:1: no build stage in current context"},
      {"ARG X\nFROM $X\n", "Dockerfile:2: base name ($X) should not be blank"},
      {"FROM Alpine:Bad\n",
       "Dockerfile:1: failed to parse stage name \"Alpine:Bad\": invalid reference"},
      {"FROM --platform=linux/arm/foo/bar scratch\n",
       "Dockerfile:1: failed to parse platform linux/arm/foo/bar: "},
      {"ARG P\nFROM --platform=$P scratch\n",
       "Dockerfile:2: empty platform value from expression $P"},
      {"FROM scratch\nCOPY --from=nosuch/image:1 /a /b\n", "Dockerfile:2: nosuch/image:1: "},
      {"FROM scratch\nCOPY --from=7 /a /b\n", "Dockerfile:2: invalid stage index 7"},
      {"FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n",
       "Dockerfile:4: circular dependency detected on stage: a"},
      {"FROM scratch AS a\nRUN --mount=from=b,target=/x true\nFROM scratch AS b\n"
       "COPY --from=a /y /y\n",
       "Dockerfile:4: circular dependency detected on stage: a"},
      {"FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nFROM a\n",
       "Dockerfile:2: cannot copy from stage \"b\", it needs to be defined before current stage "
       "\"a\""},
      {"FROM scratch\nCOPY --chmod=999 a /b\n",
       "Dockerfile:2: invalid chmod parameter: '999'. it should be octal string and between 0 "
       "and 07777"},
      {"FROM scratch\nCOPY --chmod=17777 a /b\n",
       "Dockerfile:2: invalid chmod parameter: '17777'. it should be octal string and between 0 "
       "and 07777"},
      {"FROM scratch\nCOPY --chmod=u+q a /b\n", "Dockerfile:2: invalid chmod parameter: 'u+q'"},
      {"FROM scratch\nCOPY http://example.com/x /b\n",
       "Dockerfile:2: source can't be a URL for COPY"},
      {"FROM scratch\nCOPY git@github.com:a/b.git /b\n",
       "Dockerfile:2: source can't be a git ref for COPY"},
      {"FROM scratch\nADD --checksum=sha256:abc a b /c/\n",
       "Dockerfile:2: checksum can't be specified for multiple sources"},
      {"FROM scratch\nADD --checksum=sha256:abc a /c\n",
       "Dockerfile:2: checksum requires HTTP(S) or Git sources"},
      {"FROM scratch\nADD --checksum=md5:abc https://example.com/x /c\n",
       "Dockerfile:2: invalid digest"},
      {"FROM scratch\nCOPY --from=$X a /c\n",
       "Dockerfile:2: variable expansion is not supported for --from, define a new stage with "
       "FROM using ARG from global scope as a workaround"},
      {"FROM scratch\nSTOPSIGNAL SIGFOO\n", "Dockerfile:2: Invalid signal: SIGFOO"},
      {"FROM scratch\nARG E\nVOLUME $E\n",
       "Dockerfile:3: VOLUME specified can not be an empty string"},
      {"FROM scratch\nEXPOSE 80/xyz\n",
       "Dockerfile:2: invalid port: \"80/xyz\": invalid proto: xyz"},
      {"FROM scratch\nEXPOSE 99999\n", "Dockerfile:2: invalid containerPort: 99999"},
      {"FROM scratch\nARG E\nWORKDIR $E\n",
       "Dockerfile:3: normalizing workdir: cannot normalize nothing"},
      {"FROM scratch\nRUN --mount=type=bind,target=/ true\n",
       "Dockerfile:2: invalid mount target \"/\""},
      {"FROM scratch\nRUN --mount=type=ssh,source=x true\n",
       "Dockerfile:2: ssh does not support source"},
      {"FROM scratch\nARG T=nope\nRUN --mount=type=$T,target=/x true\n",
       "Dockerfile:3: unsupported mount type \"nope\""},
      {"FROM scratch AS a\nRUN --mount=from=b,target=/x true\nFROM scratch AS b\nFROM a\n",
       "Dockerfile:2: cannot mount from stage \"b\" to \"/x\", stage needs to be defined before "
       "current command"},
      {"FROM scratch\nENV A=${B:?unset}\n",
       "Dockerfile:2: failed to process \"${B:?unset}\": B: unset"},
      {"FROM scratch\nARG X=${Y:?no}\n", "Dockerfile:2: failed to process \"${Y:?no}\": Y: no"},
      {"ARG X=${Y:?no}\nFROM scratch\n", "Dockerfile:1: failed to process \"${Y:?no}\": Y: no"},
      {"FROM busybox:1.36\nONBUILD FROM x\n", "Dockerfile:2: "},
  };
  for (const ErrorCase& c : cases) {
    Fixture f;
    std::string got = ErrorOf(c.dockerfile, f);
    EXPECT_EQ(got.substr(0, std::string(c.message).size()), c.message) << c.dockerfile;
  }
}

TEST(ConvertErrors, UnknownTargetSuggests) {
  Fixture f;
  f.opts.target = "buildr";
  auto r = Convert("FROM scratch AS builder\nFROM scratch AS final\n", f);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_EQ(r.error().message(),
            "target stage \"buildr\" could not be found (did you mean builder?)");
}

TEST(ConvertErrors, BadSourceDateEpoch) {
  Fixture f;
  f.opts.build_args = {{"SOURCE_DATE_EPOCH", "yesterday"}};
  EXPECT_EQ(ErrorOf("FROM scratch\n", f), "invalid SOURCE_DATE_EPOCH: yesterday");
}

TEST(ConvertErrors, ResolverErrorNamesTheImage) {
  Fixture f;
  EXPECT_EQ(ErrorOf("FROM nothere:1\n", f),
            "Dockerfile:1: nothere:1: docker.io/library/nothere:1: not found");
}

TEST(ConvertErrors, BadOnbuildTriggerInBaseImage) {
  Fixture f;
  f.resolver.Add(
      "docker.io/library/ob:latest",
      Resolved("docker.io/library/ob:latest", ImageJson(R"([])", R"(,"OnBuild":["FROM other"])")));
  EXPECT_EQ(ErrorOf("\nFROM ob\n", f), "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger");
}

// Every Dockerfile in the shared corpus either converts or fails with a line-numbered error
// that is listed here.
TEST(ConvertCorpus, SharedDockerfiles) {
  const std::map<std::string, std::string> expected_errors = {
      {"parser/testfiles-negative/env_no_value/Dockerfile", "Dockerfile:"},
      {"parser/testfiles-negative/shykes-nested-json/Dockerfile", "Dockerfile:"},
      {"parser/testfiles-negative/empty_dockerfile/Dockerfile", "the Dockerfile cannot be empty"},
      {"parser/testfiles-negative/only_comments/Dockerfile",
       "Dockerfile:3: file with no instruction"},
      // Parser test inputs that are not buildable Dockerfiles: BuildKit refuses them too.
      {"parser/testfiles/json/Dockerfile", "Dockerfile:1: no build stage in current context"},
      {"parser/testfiles/jeztah-invalid-json-json-inside-string-double/Dockerfile",
       "Dockerfile:1: no build stage in current context"},
      {"parser/testfiles/jeztah-invalid-json-json-inside-string/Dockerfile",
       "Dockerfile:1: no build stage in current context"},
      {"parser/testfiles/jeztah-invalid-json-single-quotes/Dockerfile",
       "Dockerfile:1: no build stage in current context"},
      {"parser/testfiles/jeztah-invalid-json-unterminated-string/Dockerfile",
       "Dockerfile:1: no build stage in current context"},
      {"parser/testfiles/jeztah-invalid-json-unterminated-bracket/Dockerfile",
       "Dockerfile:1: no build stage in current context"},
      {"parser/testfiles/escapes/Dockerfile",
       "Dockerfile:6: failed to process \"\\\\conf\\\\\\\\\\\"\": unexpected end of statement "
       "while "
       "looking for matching double-quote"},
      {"parser/testfiles/env/Dockerfile",
       "Dockerfile:12: failed to process \"'a\\\\'b'\": unexpected end of statement while looking "
       "for matching single-quote"},
      {"parser/testfiles/health/Dockerfile",
       "Dockerfile:4: HEALTHCHECK requires at least one argument"},
      {"parser/testfiles/flags/Dockerfile", "Dockerfile:3: unknown flag: --user"},
  };
  std::string root = CorpusPath("moby-buildkit/frontend/dockerfile");
  ASSERT_TRUE(std::filesystem::exists(root)) << root;
  int converted = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || e.path().filename() != "Dockerfile") continue;
    std::string rel = std::filesystem::relative(e.path(), root).string();
    Fixture f;
    f.opts.resolver = nullptr;
    auto r = ConvertToLLB(ReadAll(e.path().string()), f.opts);
    auto it = expected_errors.find(rel);
    if (it == expected_errors.end()) {
      EXPECT_TRUE(r) << rel << ": " << r.error().message();
      if (r) ++converted;
    } else {
      ASSERT_FALSE(r) << rel << " converted, expected " << it->second;
      EXPECT_EQ(r.error().message().substr(0, it->second.size()), it->second) << rel;
    }
  }
  EXPECT_GE(converted, 24);
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
