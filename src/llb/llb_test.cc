// Unit tests for the LLB builder: marshalling, digests, dedup, caps, wire encoding, dump.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "api/llb/ops.pb.h"
#include "llb/internal/go_json.h"
#include "llb/internal/path.h"
#include "llb/llb.h"

namespace hoist::llb {
namespace {

const oci::Platform kAmd64{"linux", "amd64", "", "", {}};

MarshalOptions Opts() {
  MarshalOptions o;
  o.platform = kAmd64;
  return o;
}

Definition MustMarshal(const State& s, const MarshalOptions& o = Opts()) {
  auto def = Marshal(s, o);
  EXPECT_TRUE(def.has_value()) << (def ? "" : def.error().message());
  return def ? *def : Definition{};
}

pb::Op ParseOp(const std::string& bytes) {
  pb::Op op;
  EXPECT_TRUE(op.ParseFromString(bytes));
  return op;
}

// The op in `def` whose body is of the given kind, the n-th of them.
pb::Op FindOp(const Definition& def, pb::Op::OpCase kind, int n = 0) {
  for (const auto& b : def.def) {
    pb::Op op = ParseOp(b);
    if (op.op_case() == kind && n-- == 0) return op;
  }
  ADD_FAILURE() << "no op of kind " << kind;
  return {};
}

const OpMetadata& MetadataOfKind(const Definition& def, pb::Op::OpCase kind) {
  for (const auto& b : def.def) {
    if (ParseOp(b).op_case() == kind) return def.metadata.at(oci::Digest::Sha256Of(b));
  }
  static OpMetadata none;
  ADD_FAILURE() << "no op of kind " << kind;
  return none;
}

std::vector<std::string> Caps(const OpMetadata& md) {
  std::vector<std::string> out;
  for (const auto& [k, v] : md.caps) out.push_back(k);
  return out;
}

// A build: compile in a Go image with a cache mount, then copy the binary into a small base.
State MultiStage() {
  State ctx = Local("context", {.session_id = "sess1", .exclude_patterns = {"*.md"},
                                .shared_key_hint = "context"});
  State builder = Image("golang:1.22", {.op = {.custom_name = "FROM golang"}})
                      .AddEnv("CGO_ENABLED", "0")
                      .Dir("/src");
  State src = builder.File(Copy(ctx, ".", ".", {.create_dest_path = true}),
                           {.custom_name = "COPY . ."});
  ExecState built = src.Run({.args = {"/bin/sh", "-c", "go build -o /out/app ."},
                             .mounts = {CacheMount("/root/.cache/go-build", "gocache",
                                                   CacheSharing::kLocked)},
                             .op = {.custom_name = "RUN go build"}});
  State base = OCILayout("docker.io/library/base@sha256:" + std::string(64, 'a'),
                         {.op = {.custom_name = "FROM base"},
                          .session_id = "sess1",
                          .store_id = "store1"});
  return base.File(Copy(built.Root(), "/out/app", "/usr/local/bin/app",
                        {.chown = ParseChown("1000:1000")}),
                   {.custom_name = "COPY --from=builder /out/app /usr/local/bin/app"});
}

TEST(LlbMarshal, ScratchIsEmpty) {
  Definition def = MustMarshal(Scratch());
  EXPECT_TRUE(def.def.empty());
  EXPECT_TRUE(def.metadata.empty());
}

TEST(LlbMarshal, DeterministicAcrossBuilds) {
  Definition a = MustMarshal(MultiStage());
  Definition b = MustMarshal(MultiStage());
  EXPECT_EQ(a.def, b.def);
  EXPECT_EQ(a.Serialize(), b.Serialize());
  EXPECT_EQ(a.Digests(), b.Digests());
  EXPECT_EQ(a.def.size(), 7u);  // local, image, copy, exec, oci-layout, copy, terminal
}

TEST(LlbMarshal, DigestIsSha256OfOpBytes) {
  Definition def = MustMarshal(MultiStage());
  ASSERT_EQ(def.metadata.size(), def.def.size());
  for (const auto& b : def.def) {
    oci::Digest d = oci::Digest::Sha256Of(b);
    EXPECT_TRUE(def.metadata.count(d)) << d.str();
  }
  // Every input names an op defined earlier.
  std::set<std::string> seen;
  for (const auto& b : def.def) {
    pb::Op op = ParseOp(b);
    for (const auto& in : op.inputs()) EXPECT_TRUE(seen.count(in.digest())) << in.digest();
    seen.insert(oci::Digest::Sha256Of(b).str());
  }
}

TEST(LlbMarshal, TerminalOpSelectsResult) {
  State img = Image("alpine");
  Definition def = MustMarshal(img);
  ASSERT_EQ(def.def.size(), 2u);
  pb::Op last = ParseOp(def.def.back());
  EXPECT_EQ(last.op_case(), pb::Op::OP_NOT_SET);
  EXPECT_FALSE(last.has_platform());
  EXPECT_FALSE(last.has_constraints());
  ASSERT_EQ(last.inputs_size(), 1);
  EXPECT_EQ(last.inputs(0).digest(), oci::Digest::Sha256Of(def.def[0]).str());
  auto head = def.Head();
  ASSERT_TRUE(head && *head);
  EXPECT_EQ((*head)->str(), last.inputs(0).digest());
  EXPECT_EQ(Caps(def.metadata.at(oci::Digest::Sha256Of(def.def.back()))),
            (std::vector<std::string>{"constraints", "platform"}));
}

TEST(LlbMarshal, SharedInputsAreEmittedOnce) {
  State base = Image("alpine:3.20");
  State a = base.Run({.args = {"echo", "a"}}).Root();
  State b = base.Run({.args = {"echo", "b"}}).Root();
  // Two separately built but identical sources are one op too.
  State same = Image("docker.io/library/alpine:3.20", {.op = {.custom_name = "again"}});
  State out = Merge({a, b, same});
  Definition def = MustMarshal(out);
  int sources = 0;
  for (const auto& op : def.def) sources += ParseOp(op).has_source();
  EXPECT_EQ(sources, 1);
  EXPECT_EQ(def.def.size(), 5u);  // image, 2 execs, merge, terminal
  // The metadata of the two identical sources was merged.
  const OpMetadata& md = MetadataOfKind(def, pb::Op::kSource);
  EXPECT_EQ(md.description.at("llb.customname"), "again");
  pb::Op merge = FindOp(def, pb::Op::kMerge);
  ASSERT_EQ(merge.merge().inputs_size(), 3);
  EXPECT_EQ(merge.inputs(2).digest(), oci::Digest::Sha256Of(def.def[0]).str());
  EXPECT_TRUE(MetadataOfKind(def, pb::Op::kMerge).caps.count("mergeop"));
}

TEST(LlbMarshal, ExecInputsDeduplicated) {
  State base = Image("alpine");
  Definition def = MustMarshal(
      base.Run({.args = {"true"}, .mounts = {BindMount("/a", base, true), BindMount("/b", base, true)}}));
  pb::Op exec = FindOp(def, pb::Op::kExec);
  EXPECT_EQ(exec.inputs_size(), 1);
  for (const auto& m : exec.exec().mounts()) EXPECT_EQ(m.input(), 0);
}

TEST(LlbCaps, PerOp) {
  Definition def = MustMarshal(MultiStage());
  EXPECT_EQ(Caps(MetadataOfKind(def, pb::Op::kExec)),
            (std::vector<std::string>{"exec.meta.base", "exec.mount.bind", "exec.mount.cache",
                                      "exec.mount.cache.sharing"}));
  EXPECT_EQ(Caps(MetadataOfKind(def, pb::Op::kFile)), (std::vector<std::string>{"file.base"}));
  EXPECT_EQ(Caps(def.metadata.at(oci::Digest::Sha256Of(def.def.back()))),
            (std::vector<std::string>{"constraints", "meta.description", "platform"}));
}

TEST(LlbCaps, Sources) {
  auto caps_of = [](const State& s) {
    return Caps(MetadataOfKind(MustMarshal(s), pb::Op::kSource));
  };
  EXPECT_EQ(caps_of(Image("alpine")), (std::vector<std::string>{"source.image"}));
  EXPECT_EQ(caps_of(Image("alpine", {.resolve_mode = ResolveMode::kForcePull, .layer_limit = 2})),
            (std::vector<std::string>{"source.image", "source.image.layerlimit",
                                      "source.image.resolvemode"}));
  EXPECT_EQ(caps_of(Local("ctx")),
            (std::vector<std::string>{"source.local", "source.local.unique"}));
  EXPECT_EQ(caps_of(Local("ctx", {.session_id = "s", .include_patterns = {"a"}})),
            (std::vector<std::string>{"source.local", "source.local.includepatterns",
                                      "source.local.sessionid"}));
  EXPECT_EQ(caps_of(OCILayout("x@sha256:" + std::string(64, 'b'))),
            (std::vector<std::string>{"source.ocilayout"}));
  EXPECT_EQ(caps_of(HTTP("https://e.com/f", {.uid = 1})),
            (std::vector<std::string>{"soruce.http.uidgid", "source.http"}));
  EXPECT_EQ(caps_of(Git("https://github.com/moby/buildkit.git", "v0.1")),
            (std::vector<std::string>{"source.git", "source.git.fullurl"}));
}

TEST(LlbSource, IdentifiersAndAttrs) {
  pb::Op img = FindOp(MustMarshal(Image("alpine")), pb::Op::kSource);
  EXPECT_EQ(img.source().identifier(), "docker-image://docker.io/library/alpine:latest");
  EXPECT_EQ(img.platform().os(), "linux");
  EXPECT_EQ(img.platform().architecture(), "amd64");

  pb::Op oci = FindOp(MustMarshal(OCILayout("docker.io/library/base@sha256:" + std::string(64, 'c'),
                                            {.session_id = "S", .store_id = "T", .layer_limit = 3})),
                      pb::Op::kSource);
  EXPECT_EQ(oci.source().identifier(),
            "oci-layout://docker.io/library/base@sha256:" + std::string(64, 'c'));
  EXPECT_EQ(oci.source().attrs().at("oci.session"), "S");
  EXPECT_EQ(oci.source().attrs().at("oci.store"), "T");
  EXPECT_EQ(oci.source().attrs().at("oci.layerlimit"), "3");
  EXPECT_TRUE(oci.has_platform());

  MarshalOptions o = Opts();
  o.local_unique_id = "u1";
  pb::Op local = FindOp(
      MustMarshal(Local("context", {.include_patterns = {"a<b", "c"}, .exclude_patterns = {"*.md"},
                                    .follow_paths = {"Dockerfile"}, .shared_key_hint = "k"}),
                  o),
      pb::Op::kSource);
  EXPECT_EQ(local.source().identifier(), "local://context");
  EXPECT_FALSE(local.has_platform());
  EXPECT_TRUE(local.has_constraints());
  const auto& a = local.source().attrs();
  EXPECT_EQ(a.at("local.includepattern"), "[\"a\\u003cb\",\"c\"]");
  EXPECT_EQ(a.at("local.excludepatterns"), "[\"*.md\"]");
  EXPECT_EQ(a.at("local.followpaths"), "[\"Dockerfile\"]");
  EXPECT_EQ(a.at("local.sharedkeyhint"), "k");
  EXPECT_EQ(a.at("local.unique"), "u1");

  pb::Op git = FindOp(MustMarshal(Git("git@github.com:moby/buildkit.git", "main:docs")),
                      pb::Op::kSource);
  EXPECT_EQ(git.source().identifier(), "git://github.com/moby/buildkit.git#main:docs");
  EXPECT_EQ(git.source().attrs().at("git.mountsshsock"), "default");
  EXPECT_EQ(git.source().attrs().at("git.fullurl"), "git@github.com:moby/buildkit.git");
  EXPECT_EQ(git.source().attrs().at("git.authtokensecret"), "GIT_AUTH_TOKEN");
  pb::Op git2 = FindOp(MustMarshal(Git("github.com/moby/buildkit", "")), pb::Op::kSource);
  EXPECT_EQ(git2.source().identifier(), "git://github.com/moby/buildkit");
  EXPECT_EQ(git2.source().attrs().at("git.fullurl"), "https://github.com/moby/buildkit");

  pb::Op http = FindOp(MustMarshal(HTTP("https://e.com/f.tgz",
                                        {.checksum = "sha256:" + std::string(64, 'd'),
                                         .filename = "f", .perm = 0755, .accept = "a/b"})),
                       pb::Op::kSource);
  EXPECT_EQ(http.source().identifier(), "https://e.com/f.tgz");
  EXPECT_EQ(http.source().attrs().at("http.perm"), "0755");
  EXPECT_EQ(http.source().attrs().at("http.header.accept"), "a/b");
}

TEST(LlbSource, BadImageRefFailsMarshal) {
  auto def = Marshal(Image("Alpine"), Opts());
  ASSERT_FALSE(def);
  EXPECT_EQ(def.error().code(), Code::kInvalidArgument);
}

TEST(LlbExec, MetaAndMounts) {
  State base = Image("alpine")
                   .AddEnv("A", "1")
                   .AddEnv("B", "2")
                   .AddEnv("A", "3")  // moves to the end, as BuildKit's EnvList does
                   .Dir("/work")
                   .Dir("sub")
                   .User("app")
                   .Hostname("box")
                   .Network(NetMode::kHost)
                   .Security(SecurityMode::kInsecure)
                   .AddExtraHost("db", "10.0.0.2")
                   .AddUlimit("nofile", 1024, 2048)
                   .CgroupParent("cg")
                   .ValidExitCodes({0, 3});
  State data = Image("busybox");
  ExecState run = base.Run({
      .args = {"make", "all"},
      .mounts = {BindMount("/data", data, /*readonly=*/true, "sub/dir"),
                 CacheMount("/cache", "c1", CacheSharing::kPrivate),
                 TmpfsMount("/tmp", 1 << 20), BindMount("/out", Scratch())},
      .secrets = {{.id = "tok", .target = "/run/secrets/tok", .env = "TOKEN", .uid = 1,
                   .gid = 2, .mode = 0440, .optional = true}},
      .ssh = {{.id = "default"}},
      .proxy_env = ProxyEnv{"http://p", "https://p", "ftp://p", "localhost", "socks://p"},
  });
  Definition def = MustMarshal(run);
  pb::Op op = FindOp(def, pb::Op::kExec);
  const pb::ExecOp& e = op.exec();
  EXPECT_EQ(std::vector<std::string>(e.meta().args().begin(), e.meta().args().end()),
            (std::vector<std::string>{"make", "all"}));
  EXPECT_EQ(std::vector<std::string>(e.meta().env().begin(), e.meta().env().end()),
            (std::vector<std::string>{"B=2", "A=3", "SSH_AUTH_SOCK=/run/buildkit/ssh_agent.0"}));
  EXPECT_EQ(e.meta().cwd(), "/work/sub");
  EXPECT_EQ(e.meta().user(), "app");
  EXPECT_EQ(e.meta().hostname(), "box");
  EXPECT_EQ(e.meta().cgroupparent(), "cg");
  EXPECT_TRUE(e.meta().removemountstubsrecursive());
  EXPECT_EQ(e.meta().validexitcodes_size(), 2);
  EXPECT_EQ(e.meta().extrahosts(0).ip(), "10.0.0.2");
  EXPECT_EQ(e.meta().ulimit(0).hard(), 2048);
  EXPECT_EQ(e.meta().proxy_env().all_proxy(), "socks://p");
  EXPECT_EQ(e.network(), pb::HOST);
  EXPECT_EQ(e.security(), pb::INSECURE);
  EXPECT_EQ(op.platform().architecture(), "amd64");

  // Sorted by target, then secrets, then ssh.
  ASSERT_EQ(e.mounts_size(), 7);
  const auto& root = e.mounts(0);
  EXPECT_EQ(root.dest(), "/");
  EXPECT_EQ(root.input(), 0);
  EXPECT_EQ(root.output(), 0);
  const auto& cache = e.mounts(1);
  EXPECT_EQ(cache.dest(), "/cache");
  EXPECT_EQ(cache.mounttype(), pb::CACHE);
  EXPECT_EQ(cache.cacheopt().id(), "c1");
  EXPECT_EQ(cache.cacheopt().sharing(), pb::PRIVATE);
  EXPECT_EQ(cache.input(), -1);
  EXPECT_EQ(cache.output(), -1);
  const auto& bind = e.mounts(2);
  EXPECT_EQ(bind.dest(), "/data");
  EXPECT_EQ(bind.input(), 1);
  EXPECT_TRUE(bind.readonly());
  EXPECT_EQ(bind.selector(), "sub/dir");
  EXPECT_EQ(bind.output(), -1);
  const auto& out = e.mounts(3);
  EXPECT_EQ(out.dest(), "/out");
  EXPECT_EQ(out.input(), -1);
  EXPECT_EQ(out.output(), 1);
  const auto& tmp = e.mounts(4);
  EXPECT_EQ(tmp.mounttype(), pb::TMPFS);
  EXPECT_EQ(tmp.tmpfsopt().size(), 1 << 20);
  const auto& secret = e.mounts(5);
  EXPECT_EQ(secret.mounttype(), pb::SECRET);
  EXPECT_EQ(secret.dest(), "/run/secrets/tok");
  EXPECT_EQ(secret.secretopt().id(), "tok");
  EXPECT_EQ(secret.secretopt().uid(), 1u);
  EXPECT_EQ(secret.secretopt().gid(), 2u);
  EXPECT_EQ(secret.secretopt().mode(), 0440u);
  EXPECT_TRUE(secret.secretopt().optional());
  EXPECT_EQ(e.secretenv(0).name(), "TOKEN");
  const auto& ssh = e.mounts(6);
  EXPECT_EQ(ssh.mounttype(), pb::SSH);
  EXPECT_EQ(ssh.dest(), "/run/buildkit/ssh_agent.0");
  EXPECT_EQ(ssh.sshopt().mode(), 0600u);

  EXPECT_EQ(Caps(MetadataOfKind(def, pb::Op::kExec)),
            (std::vector<std::string>{
                "exec.meta.base", "exec.meta.network", "exec.meta.proxyenv",
                "exec.meta.security", "exec.meta.ulimit", "exec.mount.bind", "exec.mount.cache",
                "exec.mount.cache.sharing", "exec.mount.secret", "exec.mount.selector",
                "exec.mount.ssh", "exec.mount.tmpfs", "exec.mount.tmpfs.size", "exec.secretenv",
                "exec.validexitcode"}));

  // The writable /out mount is output 1; read-only /data passes its source through.
  auto out_state = run.GetMount("/out");
  ASSERT_TRUE(out_state);
  Definition out_def = MustMarshal(*out_state);
  EXPECT_EQ(ParseOp(out_def.def.back()).inputs(0).index(), 1);
  EXPECT_EQ(out_def.Digests()[out_def.def.size() - 2], def.Digests()[def.def.size() - 2]);
  auto data_state = run.GetMount("/data");
  ASSERT_TRUE(data_state);
  EXPECT_EQ(data_state->output().vertex, data.output().vertex);
  EXPECT_FALSE(run.GetMount("/nope"));
  // A tmpfs mount has no output to build on.
  auto tmp_state = run.GetMount("/tmp");
  ASSERT_TRUE(tmp_state);
  EXPECT_FALSE(Marshal(*tmp_state, Opts()));
}

TEST(LlbExec, NeedsArgs) {
  auto def = Marshal(Image("alpine").Run({}), Opts());
  ASSERT_FALSE(def);
  EXPECT_NE(def.error().message().find("arguments are required"), std::string::npos);
  // Args can come from the State.
  EXPECT_TRUE(Marshal(Image("alpine").Args({"true"}).Run({}), Opts()));
}

TEST(LlbExec, PlatformFromStateThenOptions) {
  oci::Platform arm{"linux", "arm64", "", "", {}};
  Definition def = MustMarshal(Image("alpine").Platform(arm).Run({.args = {"true"}}));
  EXPECT_EQ(FindOp(def, pb::Op::kExec).platform().architecture(), "arm64");
  Definition def2 = MustMarshal(Image("alpine", {.op = {.platform = arm}}).Run({.args = {"true"}}));
  EXPECT_EQ(FindOp(def2, pb::Op::kSource).platform().architecture(), "arm64");
  EXPECT_EQ(FindOp(def2, pb::Op::kExec).platform().architecture(), "arm64");
}

TEST(LlbFile, EveryCopyOption) {
  State src = Image("alpine").Dir("/app");
  State dst = Image("busybox").Dir("/dst");
  CopyOptions o;
  o.mode = 0640;
  o.follow_symlinks = true;
  o.copy_dir_contents_only = true;
  o.include_patterns = {"*.go"};
  o.exclude_patterns = {"*_test.go"};
  o.required_paths = {"main.go"};
  o.attempt_unpack = true;
  o.create_dest_path = true;
  o.allow_wildcard = true;
  o.allow_empty_wildcard = true;
  o.chown = ParseChown("app:0");
  o.created_time = 1700000000000000000;
  o.always_replace_existing_dest_paths = true;
  Definition def = MustMarshal(dst.File(Copy(src, "src/", "out/", o)));
  pb::Op op = FindOp(def, pb::Op::kFile);
  EXPECT_FALSE(op.has_platform());
  EXPECT_TRUE(op.has_constraints());
  ASSERT_EQ(op.file().actions_size(), 1);
  const pb::FileAction& a = op.file().actions(0);
  EXPECT_EQ(a.input(), 0);
  EXPECT_EQ(a.secondaryinput(), 1);
  EXPECT_EQ(a.output(), 0);
  const pb::FileActionCopy& c = a.copy();
  EXPECT_EQ(c.src(), "/app/src");
  EXPECT_EQ(c.dest(), "/dst/out/");
  EXPECT_EQ(c.mode(), 0640);
  EXPECT_TRUE(c.followsymlink());
  EXPECT_TRUE(c.dircopycontents());
  EXPECT_TRUE(c.attemptunpackdockercompatibility());
  EXPECT_TRUE(c.createdestpath());
  EXPECT_TRUE(c.allowwildcard());
  EXPECT_TRUE(c.allowemptywildcard());
  EXPECT_TRUE(c.alwaysreplaceexistingdestpaths());
  EXPECT_EQ(c.include_patterns(0), "*.go");
  EXPECT_EQ(c.exclude_patterns(0), "*_test.go");
  EXPECT_EQ(c.required_paths(0), "main.go");
  EXPECT_EQ(c.timestamp(), 1700000000000000000);
  EXPECT_EQ(c.owner().user().byname().name(), "app");
  EXPECT_EQ(c.owner().user().byname().input(), 0);
  EXPECT_EQ(c.owner().group().byid(), 0u);
  EXPECT_TRUE(c.owner().group().has_byid());
  EXPECT_EQ(Caps(MetadataOfKind(def, pb::Op::kFile)),
            (std::vector<std::string>{"file.base", "file.copy.alwaysreplaceexistingdestpaths",
                                      "file.copy.includeexcludepatterns",
                                      "file.copy.requiredpaths"}));

  Definition def2 = MustMarshal(dst.File(Copy(src, "/a", "/b/.", {.mode_str = "u+x"})));
  pb::Op op2 = FindOp(def2, pb::Op::kFile);
  const pb::FileActionCopy& c2 = op2.file().actions(0).copy();
  EXPECT_EQ(c2.modestr(), "u+x");
  EXPECT_EQ(c2.mode(), 0);
  EXPECT_EQ(c2.dest(), "/b/.");
  EXPECT_EQ(c2.timestamp(), -1);
  EXPECT_TRUE(MetadataOfKind(def2, pb::Op::kFile).caps.count("file.copy.modestring"));
  Definition def3 = MustMarshal(dst.File(Copy(src, "/a", "/b")));
  EXPECT_EQ(FindOp(def3, pb::Op::kFile).file().actions(0).copy().mode(), -1);
}

TEST(LlbFile, ChainIndices) {
  State base = Image("alpine").Dir("/w");
  State other = Image("busybox");
  FileAction chain = Mkdir("d", 0755, {.make_parents = true, .chown = ParseChown("1:2"),
                                       .created_time = 5})
                         .Mkfile("d/f", 0600, "hi", {.created_time = 6})
                         .Copy(other, "/bin/sh", "/d/sh")
                         .Symlink("/d/sh", "/d/sh2")
                         .Rm("/d/x*", {.allow_not_found = true, .allow_wildcard = true});
  Definition def = MustMarshal(base.File(chain));
  pb::Op op = FindOp(def, pb::Op::kFile);
  ASSERT_EQ(op.inputs_size(), 2);  // base, other
  const auto& acts = op.file().actions();
  ASSERT_EQ(acts.size(), 5);
  EXPECT_EQ(acts[0].input(), 0);
  EXPECT_EQ(acts[0].secondaryinput(), -1);
  EXPECT_EQ(acts[0].output(), -1);
  EXPECT_EQ(acts[0].mkdir().path(), "/w/d");
  EXPECT_EQ(acts[0].mkdir().mode(), 0755);
  EXPECT_TRUE(acts[0].mkdir().makeparents());
  EXPECT_EQ(acts[0].mkdir().owner().user().byid(), 1u);
  EXPECT_EQ(acts[0].mkdir().owner().group().byid(), 2u);
  EXPECT_EQ(acts[0].mkdir().timestamp(), 5);
  // Later actions read the previous result: index 2 (number of inputs) + action number.
  EXPECT_EQ(acts[1].input(), 2);
  EXPECT_EQ(acts[1].mkfile().path(), "/w/d/f");
  EXPECT_EQ(acts[1].mkfile().data(), "hi");
  EXPECT_EQ(acts[1].mkfile().timestamp(), 6);
  EXPECT_EQ(acts[2].input(), 3);
  EXPECT_EQ(acts[2].secondaryinput(), 1);
  EXPECT_EQ(acts[3].input(), 4);
  EXPECT_EQ(acts[3].symlink().oldpath(), "/d/sh");
  EXPECT_EQ(acts[4].input(), 5);
  EXPECT_EQ(acts[4].output(), 0);
  EXPECT_TRUE(acts[4].rm().allownotfound());
  EXPECT_TRUE(acts[4].rm().allowwildcard());
  EXPECT_TRUE(MetadataOfKind(def, pb::Op::kFile).caps.count("file.symlink.create"));
}

TEST(LlbFile, CopyFromActionChain) {
  State base = Image("alpine");
  CopyInput made = Mkfile("/f", 0644, "x").WithState(Scratch());
  Definition def = MustMarshal(base.File(Copy(made, "/f", "/g")));
  pb::Op op = FindOp(def, pb::Op::kFile);
  const auto& acts = op.file().actions();
  ASSERT_EQ(acts.size(), 2);
  EXPECT_EQ(acts[0].input(), -1);  // mkfile on scratch
  EXPECT_EQ(acts[0].output(), -1);
  EXPECT_EQ(acts[1].input(), 0);
  EXPECT_EQ(acts[1].secondaryinput(), 1);  // 1 input + action 0
}

TEST(LlbFile, ParseChown) {
  ChownOpt c = ParseChown("root");
  ASSERT_TRUE(c.user);
  EXPECT_EQ(c.user->id, 0u);
  EXPECT_TRUE(c.user->name.empty());
  EXPECT_FALSE(c.group);
  c = ParseChown("app:staff");
  EXPECT_EQ(c.user->name, "app");
  EXPECT_EQ(c.group->name, "staff");
}

// Wire encoding written out by hand from the field numbers of BuildKit's ops.proto.
class Wire {
 public:
  Wire& Varint(uint64_t v) {
    while (v >= 0x80) {
      s_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Wire& Int(int field, int64_t v) { return Varint(field << 3).Varint(static_cast<uint64_t>(v)); }
  Wire& Bytes(int field, std::string_view b) {
    Varint((field << 3) | 2).Varint(b.size());
    s_.append(b);
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

TEST(LlbFromDefinition, MarshalsBackToTheSameDefinition) {
  Definition def = MustMarshal(MultiStage());
  auto st = FromDefinition(def);
  ASSERT_TRUE(st) << st.error().message();
  // Marshalled with other defaults: the foreign ops keep their own bytes and platform.
  MarshalOptions other;
  other.platform = oci::Platform{.os = "linux", .architecture = "arm64"};
  Definition again = MustMarshal(*st, other);
  EXPECT_EQ(again.def, def.def);
  EXPECT_EQ(again.metadata, def.metadata);
  EXPECT_EQ(again.Serialize(), def.Serialize());
}

TEST(LlbFromDefinition, OpsBuiltOnItFollowItsOps) {
  State base = Image("alpine:3.20").Run({.args = {"sh", "-c", "echo a > /a"}}).Root();
  Definition input = MustMarshal(base);
  auto st = FromDefinition(input);
  ASSERT_TRUE(st) << st.error().message();
  State built = st->Run({.args = {"cat", "/a"}}).Root();
  Definition def = MustMarshal(built);
  // The input's ops first, as they were; then the new exec, on the input's result.
  ASSERT_EQ(def.def.size(), input.def.size() + 1);
  for (size_t i = 0; i + 1 < input.def.size(); ++i) EXPECT_EQ(def.def[i], input.def[i]);
  pb::Op exec = FindOp(def, pb::Op::kExec, 1);
  ASSERT_GE(exec.inputs_size(), 1);
  auto head = input.Head();
  ASSERT_TRUE(head && *head);
  EXPECT_EQ(exec.inputs(0).digest(), (*head)->str());
  // The same as building on the original State.
  EXPECT_EQ(def.def, MustMarshal(base.Run({.args = {"cat", "/a"}}).Root()).def);
}

TEST(LlbFromDefinition, ScratchAndBadDefinitions) {
  auto empty = FromDefinition(Definition{});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->IsScratch());

  Definition def = MustMarshal(Image("alpine").Run({.args = {"true"}}).Root());
  Definition garbage = def;
  garbage.def[0] = "\xff\xff\xff";
  auto g = FromDefinition(garbage);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(g.error().message(), "invalid LLB definition: op 0 does not parse");

  // The exec before the image it runs on.
  Definition swapped = def;
  std::swap(swapped.def[0], swapped.def[1]);
  auto sw = FromDefinition(swapped);
  ASSERT_FALSE(sw);
  EXPECT_NE(sw.error().message().find("op 0 names sha256:"), std::string::npos)
      << sw.error().message();
  EXPECT_NE(sw.error().message().find("which is not an op before it"), std::string::npos);

  Definition headless = def;
  headless.def.pop_back();  // the exec is now the last op and selects the image
  auto h = FromDefinition(headless);
  ASSERT_TRUE(h) << h.error().message();
  EXPECT_EQ(MustMarshal(*h).def.front(), def.def.front());
}

TEST(LlbWire, LocalSourceOp) {
  Definition def = MustMarshal(Local("ctx", {.session_id = "s", .shared_key_hint = "h"}));
  // Map entries, sorted by key.
  std::string entry1 = Wire().Bytes(1, "local.session").Bytes(2, "s").str();
  std::string entry2 = Wire().Bytes(1, "local.sharedkeyhint").Bytes(2, "h").str();
  std::string source =
      Wire().Bytes(1, "local://ctx").Bytes(2, entry1).Bytes(2, entry2).str();
  std::string op = Wire().Bytes(3, source).Bytes(11, "").str();  // source, empty constraints
  EXPECT_EQ(def.def[0], op);
  EXPECT_EQ(def.Digests()[0], oci::Digest::Sha256Of(op));
  // Terminal op: Input{digest, index 0}.
  std::string input = Wire().Bytes(1, oci::Digest::Sha256Of(op).str()).str();
  EXPECT_EQ(def.def[1], Wire().Bytes(1, input).str());
}

TEST(LlbWire, MkdirFileOp) {
  Definition def = MustMarshal(Scratch().File(Mkdir("/a", 0755, {.make_parents = true})));
  std::string mkdir = Wire().Bytes(1, "/a").Int(2, 0755).Int(3, 1).Int(5, -1).str();
  std::string action = Wire().Int(1, -1).Int(2, -1).Bytes(6, mkdir).str();  // output 0 omitted
  std::string file = Wire().Bytes(2, action).str();
  std::string op = Wire().Bytes(4, file).Bytes(11, "").str();
  EXPECT_EQ(def.def[0], op);
}

TEST(LlbWire, ImageSourceHasPlatform) {
  Definition def = MustMarshal(Image("alpine"));
  std::string source =
      Wire().Bytes(1, "docker-image://docker.io/library/alpine:latest").str();
  std::string platform = Wire().Bytes(1, "amd64").Bytes(2, "linux").str();
  std::string op = Wire().Bytes(3, source).Bytes(10, platform).Bytes(11, "").str();
  EXPECT_EQ(def.def[0], op);
}

TEST(LlbDefinition, SerializeParseRoundTrip) {
  Definition def = MustMarshal(MultiStage());
  std::string bytes = def.Serialize();
  auto back = Definition::Parse(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->def, def.def);
  EXPECT_EQ(back->metadata, def.metadata);
  EXPECT_EQ(back->Serialize(), bytes);
  // Metadata entries are written in key order.
  size_t last = 0;
  for (const auto& [digest, md] : def.metadata) {
    size_t at = bytes.rfind(digest.str());  // after the ops, which may name it too
    ASSERT_NE(at, std::string::npos);
    EXPECT_GT(at, last);
    last = at;
  }
  EXPECT_FALSE(Definition::Parse("\xff\xff"));
}

TEST(LlbDump, Format) {
  Definition def = MustMarshal(Image("alpine", {.op = {.custom_name = "x<y"}}));
  auto dump = DumpLLB(def);
  ASSERT_TRUE(dump);
  std::string d0 = def.Digests()[0].str();
  std::string expected =
      "{\"Op\":{\"Op\":{\"source\":{\"identifier\":\"docker-image://docker.io/library/"
      "alpine:latest\"}},\"platform\":{\"Architecture\":\"amd64\",\"OS\":\"linux\"},"
      "\"constraints\":{}},\"Digest\":\"" + d0 +
      "\",\"OpMetadata\":{\"description\":{\"llb.customname\":\"x\\u003cy\"},\"caps\":"
      "{\"source.image\":true}}}\n"
      "{\"Op\":{\"inputs\":[{\"digest\":\"" + d0 + "\"}],\"Op\":{}},\"Digest\":\"" +
      def.Digests()[1].str() +
      "\",\"OpMetadata\":{\"caps\":{\"constraints\":true,\"meta.description\":true,"
      "\"platform\":true}}}\n";
  EXPECT_EQ(*dump, expected);
  EXPECT_EQ(*DumpLLB(def.Serialize()), expected);
  EXPECT_FALSE(DumpLLB(std::string_view("\xff\xff")));
}

TEST(LlbDump, FileActionAndUserShapes) {
  Definition def = MustMarshal(
      Scratch().File(Mkfile("/f", 0644, "hi", {.chown = ParseChown("app:0")})));
  auto dump = DumpLLB(def);
  ASSERT_TRUE(dump);
  EXPECT_NE(dump->find("\"actions\":[{\"input\":-1,\"secondaryInput\":-1,\"output\":0,"
                       "\"Action\":{\"mkfile\":{\"path\":\"/f\",\"mode\":420,\"data\":\"aGk=\","
                       "\"owner\":{\"user\":{\"User\":{\"byName\":{\"name\":\"app\",\"input\":-1}}},"
                       "\"group\":{\"User\":{}}},\"timestamp\":-1}}}]"),
            std::string::npos)
      << *dump;
}

TEST(LlbGoJson, Escapes) {
  std::string out;
  internal::AppendGoJsonString(&out, std::string("a\"\\\n\t\x01<>&\xe2\x80\xa8\xff", 13));
  EXPECT_EQ(out, "\"a\\\"\\\\\\n\\t\\u0001\\u003c\\u003e\\u0026\\u2028\\ufffd\"");
  EXPECT_EQ(internal::Base64("hi"), "aGk=");
  EXPECT_EQ(internal::Base64("abc"), "YWJj");
  EXPECT_EQ(internal::Base64("a"), "YQ==");
}

TEST(LlbPath, CleanAndJoin) {
  EXPECT_EQ(internal::CleanPath(""), ".");
  EXPECT_EQ(internal::CleanPath("a//b/../c/"), "a/c");
  EXPECT_EQ(internal::CleanPath("/.."), "/");
  EXPECT_EQ(internal::CleanPath("../a"), "../a");
  EXPECT_EQ(internal::JoinPath("/", "x/./y"), "/x/y");
  EXPECT_EQ(internal::JoinPath("", "x"), "x");
  EXPECT_EQ(Scratch().Dir("a").Dir("../b").GetDir(), "/b");
}

// The multi-stage graph against the checked-in dump. HOIST_UPDATE_GOLDEN=1 rewrites it.
TEST(LlbGolden, MultiStage) {
  const std::string path = std::string(HOIST_SOURCE_DIR) + "/src/llb/testdata/multistage.jsonl";
  auto dump = DumpLLB(MustMarshal(MultiStage()));
  ASSERT_TRUE(dump);
  if (std::getenv("HOIST_UPDATE_GOLDEN")) {
    std::ofstream(path, std::ios::binary) << *dump;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path << " is missing; run with HOIST_UPDATE_GOLDEN=1";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(*dump, want.str());
}

TEST(CapsTest, ServedCapsAreKnownAndLeaveOutWhatIsNotServed) {
  const std::vector<std::string_view> served = ServedCaps();
  auto has = [&](std::string_view c) {
    return std::find(served.begin(), served.end(), c) != served.end();
  };
  EXPECT_TRUE(has("exporter.image.attestations"));
  EXPECT_TRUE(has("source.ocilayout"));
  EXPECT_TRUE(has("source.git"));
  EXPECT_FALSE(has("cache.gha"));
  EXPECT_FALSE(has("cache.s3"));
  EXPECT_FALSE(has("source.policy"));
  for (std::string_view c : served) EXPECT_TRUE(IsKnownCap(c)) << c;
  EXPECT_FALSE(IsKnownCap("exporter.image.nope"));
}

TEST(InlineFilesTest, FilesMadeOnScratchAreReadFromTheDefinition) {
  Definition def =
      MustMarshal(Scratch().File(Mkfile("/Dockerfile", 0644, "FROM x\n")
                                     .Mkdir("/sub/dir", 0755, {.make_parents = true})
                                     .Mkfile("sub/dir/Dockerfile.dockerignore", 0600, "")
                                     .Mkfile("/Dockerfile", 0644, "FROM y\n")));
  auto files = InlineFiles(def);
  ASSERT_TRUE(files) << files.error().message();
  ASSERT_TRUE(files->has_value());
  EXPECT_EQ(**files, (std::map<std::string, std::string>{{"Dockerfile", "FROM y\n"},
                                                         {"sub/dir/Dockerfile.dockerignore", ""}}));
}

TEST(InlineFilesTest, AnythingElseIsLeftToTheSolver) {
  const State local = Local("dockerfile");
  for (const State& s : {local, local.File(Mkfile("/Dockerfile", 0644, "FROM x\n")),
                         Scratch().File(Mkfile("/a/Dockerfile", 0644, "FROM x\n")),
                         Scratch().File(Mkfile("/a", 0644, "").Mkdir("/a", 0755)),
                         Scratch().File(Mkfile("/a", 0644, "").Mkfile("/a/b", 0644, "")),
                         Scratch().File(Mkdir("/a", 0755).Mkdir("/a", 0755)),
                         Scratch().File(Mkfile("/f", 0644, "").Rm("/f")),
                         Scratch().File(Mkfile("/f", 0644, "")).File(Mkfile("/g", 0644, ""))}) {
    auto files = InlineFiles(MustMarshal(s));
    ASSERT_TRUE(files) << files.error().message();
    EXPECT_FALSE(files->has_value()) << DumpLLB(MustMarshal(s)).value_or("?");
  }
  EXPECT_FALSE(InlineFiles(Definition{}).value().has_value());
  EXPECT_FALSE(InlineFiles(Definition{.def = {"\xff\xff", "\xff"}}));
}

}  // namespace
}  // namespace hoist::llb
