// Client build flags: parsing, oci-layout context resolution and what ends up in the session.
#include "client/build_options.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "content/oci_layout.h"
#include "session/testing/test_layout.h"

namespace hoist::client {
namespace {

using session::testing::MakePlatform;
using session::testing::TestImage;

TEST(ParseOciLayoutFlagTest, IdEqualsPath) {
  auto ok = ParseOciLayoutFlag("mystore=/srv/layouts/a=b");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, "mystore");
  EXPECT_EQ(ok->second, "/srv/layouts/a=b");
  for (const char* bad : {"nostore", "=dir", "id=", ""}) {
    SCOPED_TRACE(bad);
    auto r = ParseOciLayoutFlag(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(
        r.error().message(),
        std::string("oci-layout option must be 'id=path/to/layout', instead had invalid ") + bad);
  }
}

TEST(ParseKeyValueFlagTest, Errors) {
  auto ok = ParseKeyValueFlag("build-arg:A=x=y", "opt", "KEY=VALUE");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->first, "build-arg:A");
  EXPECT_EQ(ok->second, "x=y");
  EXPECT_EQ(ParseKeyValueFlag("k=", "opt", "KEY=VALUE")->second, "");
  auto bad = ParseKeyValueFlag("novalue", "opt", "KEY=VALUE");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "invalid opt novalue: expected KEY=VALUE");
  EXPECT_EQ(ParseKeyValueFlag("=x", "local", "NAME=DIR").error().message(),
            "invalid local =x: expected NAME=DIR");
}

TEST(ParseSecretFlagTest, Forms) {
  auto file = ParseSecretFlag("id=tok,src=/run/tok");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->id, "tok");
  EXPECT_EQ(file->file, "/run/tok");
  EXPECT_EQ(file->env, "");
  auto source = ParseSecretFlag("type=file,id=a,source=f");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->file, "f");
  auto env = ParseSecretFlag("id=tok,env=TOKEN");
  ASSERT_TRUE(env);
  EXPECT_EQ(env->env, "TOKEN");
  EXPECT_EQ(env->file, "");
  auto typed_env = ParseSecretFlag("type=env,id=tok,src=TOKEN");
  ASSERT_TRUE(typed_env);
  EXPECT_EQ(typed_env->env, "TOKEN");
  EXPECT_EQ(typed_env->file, "");
  auto bare = ParseSecretFlag("id=GITHUB_TOKEN");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->env, "GITHUB_TOKEN");
}

TEST(ParseSecretFlagTest, Errors) {
  struct Case {
    const char* flag;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"src=/x", "invalid secret src=/x: secret ID missing"},
           {"id=a,oops", "invalid secret id=a,oops: field \"oops\" must be a key=value pair"},
           {"id=a,colour=red", "invalid secret id=a,colour=red: unexpected key \"colour\""},
           {"id=a,type=ssh", "invalid secret id=a,type=ssh: unsupported type \"ssh\""},
           {"id=a,src=f,env=E",
            "invalid secret id=a,src=f,env=E: give either src or env, not both"},
       }) {
    SCOPED_TRACE(c.flag);
    auto r = ParseSecretFlag(c.flag);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.error().message(), c.message);
  }
}

class PrepareBuildTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = TempDir::Create("client-test-");
    ASSERT_TRUE(t);
    tmp_ = std::move(*t);
    opts_.new_store_id = [this] { return "store" + std::to_string(++ids_); };
  }

  std::string Path(const std::string& n) const { return tmp_.path() + "/" + n; }

  // A layout at `dir` holding `count` images, the i-th named names[i] (if given).
  std::vector<TestImage> MakeLayout(const std::string& dir,
                                    const std::vector<std::vector<std::string>>& names) {
    std::vector<TestImage> images;
    EXPECT_EQ(session::testing::RunShell("mkdir -p '" + dir + "'"), 0);
    for (size_t i = 0; i < names.size(); ++i) {
      TestImage img;
      auto s = session::testing::CreateLayoutWith(
          dir,
          [&](content::ContentStore& cs) -> Result<oci::Descriptor> {
            HOIST_ASSIGN_OR_RETURN(
                img, session::testing::WriteTestImage(cs, {"layer " + std::to_string(i)},
                                                      MakePlatform("linux", "amd64")));
            return img.manifest;
          },
          names[i]);
      EXPECT_TRUE(s) << s.error().message();
      images.push_back(img);
    }
    return images;
  }

  Result<PreparedBuild> Prepare(BuildFlags flags) { return PrepareBuild(flags, opts_); }

  TempDir tmp_;
  PrepareOptions opts_;
  int ids_ = 0;
};

TEST_F(PrepareBuildTest, OciLayoutContextByTag) {
  auto imgs = MakeLayout(Path("srv/bb"), {{"docker.io/library/busybox:1.36"}, {"v2"}});
  // By image name annotation, by ref name, and by digest.
  auto p = Prepare({.build_contexts = {"base=oci-layout://" + Path("srv/bb") + ":1.36",
                                       "other=oci-layout://" + Path("srv/bb") + ":v2",
                                       "pinned=oci-layout://" + Path("srv/bb") + "@" +
                                           imgs[0].manifest.digest.str()}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->frontend_attrs["context:base"],
            "oci-layout://store1@" + imgs[0].manifest.digest.str());
  EXPECT_EQ(p->frontend_attrs["context:other"],
            "oci-layout://store2@" + imgs[1].manifest.digest.str());
  EXPECT_EQ(p->frontend_attrs["context:pinned"],
            "oci-layout://store3@" + imgs[0].manifest.digest.str());
  // The stores are in the session under those IDs, and read.
  auto store = p->session->OciStore("store2");
  ASSERT_TRUE(store) << store.error().message();
  EXPECT_EQ(*content::ReadBlob(**store, imgs[1].layers[0]), "layer 1");
  // Nothing in the options names the path.
  for (const auto& [k, v] : p->frontend_attrs) EXPECT_EQ(v.find(tmp_.path()), std::string::npos);
}

TEST_F(PrepareBuildTest, DefaultTagIsLatest) {
  // "latest" is the ref name of the second image, and the image name of none: with no tag
  // given, the layout's `latest` entry is used.
  auto imgs = MakeLayout(Path("l"), {{"org/app:1.0"}, {"latest"}});
  auto p = Prepare({.build_contexts = {"base=oci-layout://" + Path("l")}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->frontend_attrs["context:base"],
            "oci-layout://store1@" + imgs[1].manifest.digest.str());
}

TEST_F(PrepareBuildTest, OnlyManifestWithoutAMatchingTag) {
  auto imgs = MakeLayout(Path("one"), {{"org/app:7"}});
  auto p = Prepare({.build_contexts = {"base=oci-layout://" + Path("one")}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->frontend_attrs["context:base"],
            "oci-layout://store1@" + imgs[0].manifest.digest.str());
}

TEST_F(PrepareBuildTest, FailedToResolveDigest) {
  MakeLayout(Path("two"), {{"a"}, {"b"}});
  auto p = Prepare({.build_contexts = {"base=oci-layout://" + Path("two") + ":c"}});
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), Code::kNotFound);
  EXPECT_EQ(p.error().message().rfind("failed to resolve digest for base", 0), 0u)
      << p.error().message();
  auto none = Prepare({.build_contexts = {"base=oci-layout://" + Path("missing")}});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message().rfind("failed to resolve digest for base", 0), 0u)
      << none.error().message();
}

TEST_F(PrepareBuildTest, PathsWithColonsAndAts) {
  std::string dir = Path("we:ird@dir");
  auto imgs = MakeLayout(dir, {{"x:1"}});
  auto p = Prepare({.build_contexts = {"base=oci-layout://" + dir + ":1"}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->frontend_attrs["context:base"],
            "oci-layout://store1@" + imgs[0].manifest.digest.str());
  auto both = Prepare(
      {.build_contexts = {"base=oci-layout://" + dir + ":1@" + imgs[0].manifest.digest.str()}});
  ASSERT_TRUE(both) << both.error().message();
}

TEST_F(PrepareBuildTest, OciTarballContext) {
  auto imgs = MakeLayout(Path("layout"), {{"docker.io/library/alpine:3"}});
  ASSERT_EQ(session::testing::RunShell("tar -C '" + Path("layout") + "' -cf '" + Path("image.tar") +
                                       "' ."),
            0);
  auto p = Prepare({.build_contexts = {"base=oci-layout://" + Path("image.tar") + ":3"}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->frontend_attrs["context:base"],
            "oci-layout://store1@" + imgs[0].manifest.digest.str());
  EXPECT_EQ(*content::ReadBlob(**p->session->OciStore("store1"), imgs[0].layers[0]), "layer 0");
}

TEST_F(PrepareBuildTest, OciLayoutFlagAndOpts) {
  auto imgs = MakeLayout(Path("l"), {{"x:1"}});
  auto p = Prepare({.oci_layouts = {"mine=" + Path("l")},
                    .opts = {"context:base=oci-layout://mine@" + imgs[0].manifest.digest.str(),
                             "build-arg:A=1"}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->frontend_attrs["build-arg:A"], "1");
  EXPECT_EQ(p->frontend_attrs["context:base"],
            "oci-layout://mine@" + imgs[0].manifest.digest.str());
  EXPECT_TRUE(p->session->OciStore("mine"));
  auto bad = Prepare({.oci_layouts = {"mine"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "oci-layout option must be 'id=path/to/layout', instead had invalid mine");
  auto dup = Prepare({.oci_layouts = {"a=" + Path("l"), "a=" + Path("l")}});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), Code::kAlreadyExists);
  auto bad_opt = Prepare({.opts = {"x"}});
  ASSERT_FALSE(bad_opt);
  EXPECT_EQ(bad_opt.error().message(), "invalid opt x: expected KEY=VALUE");
}

TEST_F(PrepareBuildTest, PassThroughAndLocalContexts) {
  ASSERT_EQ(session::testing::RunShell("mkdir -p '" + Path("ctx") + "'"), 0);
  WriteTestFile(Path("ctx/f.txt"), "hello");
  auto p = Prepare(
      {.build_contexts = {"alpine=docker-image://alpine:3.20", "web=https://example.com/x.tar",
                          "repo=https://github.com/moby/buildkit.git", "stage=target:build",
                          "src=" + Path("ctx")},
       .locals = {"context=" + Path("ctx")}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(p->frontend_attrs["context:alpine"], "docker-image://alpine:3.20");
  EXPECT_EQ(p->frontend_attrs["context:web"], "https://example.com/x.tar");
  EXPECT_EQ(p->frontend_attrs["context:repo"], "https://github.com/moby/buildkit.git");
  EXPECT_EQ(p->frontend_attrs["context:stage"], "target:build");
  EXPECT_EQ(p->frontend_attrs["context:src"], "local:src");
  for (const char* name : {"src", "context"}) {
    auto dir = p->session->LocalDir(name);
    ASSERT_TRUE(dir) << dir.error().message();
    auto f = (*dir)->OpenFile("f.txt");
    ASSERT_TRUE(f) << f.error().message();
  }
  auto bad = Prepare({.build_contexts = {"x=" + Path("nope")}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "build context x: " + Path("nope") +
                " is neither a directory nor a known source (docker-image://, oci-layout://, a URL "
                "or a git repository)");
  auto malformed = Prepare({.build_contexts = {"novalue"}});
  ASSERT_FALSE(malformed);
  EXPECT_EQ(malformed.error().message(), "invalid build context novalue: expected NAME=VALUE");
  auto empty = Prepare({.build_contexts = {"x="}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().message(), "invalid build context x=: empty value");
}

TEST_F(PrepareBuildTest, Secrets) {
  WriteTestFile(Path("tok"), "token-bytes");
  setenv("HOIST_CLIENT_TEST_SECRET", "env-bytes", 1);
  auto p = Prepare({.secrets = {"id=file,src=" + Path("tok"), "id=env,env=HOIST_CLIENT_TEST_SECRET",
                                "id=HOIST_CLIENT_TEST_SECRET"}});
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(*p->session->Secret("file"), "token-bytes");
  EXPECT_EQ(*p->session->Secret("env"), "env-bytes");
  EXPECT_EQ(*p->session->Secret("HOIST_CLIENT_TEST_SECRET"), "env-bytes");
  unsetenv("HOIST_CLIENT_TEST_SECRET");
  auto bad = Prepare({.secrets = {"src=x"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(), "invalid secret src=x: secret ID missing");
}

TEST_F(PrepareBuildTest, RandomStoreIdsByDefault) {
  auto imgs = MakeLayout(Path("l"), {{"x:1"}});
  PrepareOptions defaults;
  BuildFlags flags;
  flags.build_contexts = {"a=oci-layout://" + Path("l") + ":1",
                          "b=oci-layout://" + Path("l") + ":1"};
  auto p = PrepareBuild(flags, defaults);
  ASSERT_TRUE(p) << p.error().message();
  auto ids = p->session->StoreIds();
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_NE(ids[0], ids[1]);
  for (const std::string& id : ids) EXPECT_EQ(id.size(), 25u);
}

}  // namespace
}  // namespace hoist::client
