#include "frontend/dockerfile/instructions.h"

#include <gtest/gtest.h>

#include "base/testing/corpus.h"

namespace hoist::frontend::dockerfile {
namespace {

const char kParse[] = "moby-buildkit/derived/instructions_parse_test.tables.json";
const char kHeredoc[] = "moby-buildkit/derived/instructions_parse_heredoc_test.tables.json";
const char kDevice[] = "moby-buildkit/derived/instructions_commands_rundevice_test.tables.json";

Result<Instruction> ParseOne(const std::string& dockerfile) {
  auto parsed = Parse(dockerfile);
  if (!parsed) return Unexpected(parsed.error());
  return ParseInstruction(parsed->root.children.at(0));
}

std::string ErrorOf(const std::string& dockerfile) {
  auto r = ParseOne(dockerfile);
  return r ? "<no error>" : r.error().message();
}

Node Arg(std::string v) { Node n; n.value = std::move(v); return n; }

TEST(InstructionCorpus, ArityErrors) {
  auto one = CorpusTableRows(kParse, "TestCommandsExactlyOneArgument");
  ASSERT_EQ(one.size(), 4u);
  for (const auto& cmd : one) {
    std::string c = cmd.get<std::string>();
    EXPECT_EQ(ErrorOf(c), "Dockerfile:1: " + c + " requires exactly one argument");
  }
  auto least = CorpusTableRows(kParse, "TestCommandsAtLeastOneArgument");
  ASSERT_EQ(least.size(), 6u);
  for (const auto& cmd : least) {
    std::string c = cmd.get<std::string>();
    EXPECT_EQ(ErrorOf(c), "Dockerfile:1: " + c + " requires at least one argument");
  }
  auto nodest = CorpusTableRows(kParse, "TestCommandsNoDestinationArgument");
  ASSERT_EQ(nodest.size(), 2u);
  for (const auto& cmd : nodest) {
    std::string c = cmd.get<std::string>();
    EXPECT_EQ(ErrorOf(c + " arg1"),
              "Dockerfile:1: " + c +
                  " requires at least two arguments, but only one was provided. Destination "
                  "could not be determined");
  }
}

TEST(InstructionCorpus, TooManyAndBlank) {
  auto many = CorpusTableRows(kParse, "TestCommandsTooManyArguments");
  ASSERT_EQ(many.size(), 2u);
  for (const auto& cmd : many) {
    std::string c = cmd.get<std::string>();
    Node node;
    node.value = c;
    for (const char* v : {"arg1", "arg2", "arg3", ""}) node.next.push_back(Arg(v));
    auto r = ParseInstruction(node);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "Dockerfile: Bad input to " + c + ", too many arguments");
  }
  auto blank = CorpusTableRows(kParse, "TestCommandsBlankNames");
  ASSERT_EQ(blank.size(), 2u);
  for (const auto& cmd : blank) {
    std::string c = cmd.get<std::string>();
    Node node;
    node.value = c;
    for (const char* v : {"", "arg2", "="}) node.next.push_back(Arg(v));
    auto r = ParseInstruction(node);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "Dockerfile: " + c + " names can not be blank");
  }
}

TEST(InstructionCorpus, HealthCheckCmd) {
  auto expected = CorpusTableRows(kParse, "TestHealthCheckCmd");
  ASSERT_EQ(expected.size(), 2u);
  Node node;
  node.value = "healthcheck";
  for (const char* v : {"CMD", "hello", "world"}) node.next.push_back(Arg(v));
  auto r = ParseInstruction(node);
  ASSERT_TRUE(r) << r.error().message();
  const auto& hc = std::get<HealthCheckCommand>(r->command);
  EXPECT_EQ(hc.health.test, (std::vector<std::string>{expected[0].get<std::string>(),
                                                      expected[1].get<std::string>()}));
}

TEST(InstructionCorpus, ErrorCases) {
  auto cases = CorpusTableRows(kParse, "TestErrorCases");
  ASSERT_EQ(cases.size(), 6u);
  auto heredoc = CorpusTableRows(kHeredoc, "TestErrorCasesHeredoc");
  ASSERT_EQ(heredoc.size(), 1u);
  cases.insert(cases.end(), heredoc.begin(), heredoc.end());
  for (const auto& c : cases) {
    std::string err = ErrorOf(c["dockerfile"].get<std::string>());
    EXPECT_NE(err.find(c["expectedError"].get<std::string>()), std::string::npos)
        << c["name"] << ": " << err;
  }
}

TEST(InstructionCorpus, StageNames) {
  auto names = CorpusTableRows(kParse, "BenchmarkParseBuildStageName");
  ASSERT_EQ(names.size(), 3u);
  for (const auto& n : names) {
    std::string name = n.get<std::string>();
    auto r = ParseOne("FROM foo AS " + name);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(std::get<FromCommand>(r->command).name, "stage_name" == name ? name : [&] {
      std::string l = name;
      for (char& ch : l) ch = static_cast<char>(std::tolower(ch));
      return l;
    }());
  }
  // The second table is the Go args literal {"foo", "as", s}.
  auto args = CorpusTableRows(kParse, "BenchmarkParseBuildStageName", 1);
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(args[1], "as");
}

TEST(InstructionCorpus, CopyHeredoc) {
  auto cases = CorpusTableRows(kHeredoc, "TestCopyHeredoc");
  ASSERT_EQ(cases.size(), 8u);
  for (const auto& c : cases) {
    auto r = ParseOne(c["dockerfile"].get<std::string>());
    ASSERT_TRUE(r) << r.error().message();
    const auto& sd = std::get<CopyCommand>(r->command).sources_and_dest;
    const auto& want = c["sourcesAndDest"];
    EXPECT_EQ(sd.dest_path, want["DestPath"]);
    EXPECT_EQ(sd.source_paths,
              want.value("SourcePaths", std::vector<std::string>{}));
    std::vector<SourceContent> contents;
    for (const auto& s : want.value("SourceContents", nlohmann::json::array())) {
      contents.push_back({s["Path"], s["Data"], s["Expand"]});
    }
    EXPECT_EQ(sd.source_contents, contents) << c["dockerfile"];
  }
}

TEST(InstructionCorpus, RunHeredoc) {
  auto cases = CorpusTableRows(kHeredoc, "TestRunHeredoc");
  ASSERT_EQ(cases.size(), 6u);
  for (const auto& c : cases) {
    auto r = ParseOne(c["dockerfile"].get<std::string>());
    ASSERT_TRUE(r) << r.error().message();
    const auto& run = std::get<RunCommand>(r->command);
    EXPECT_EQ(run.cmd.cmd_line, c["command"].get<std::vector<std::string>>());
    EXPECT_EQ(run.cmd.prepend_shell, c["shell"].get<bool>());
    std::vector<ShellInlineFile> files;
    for (const auto& f : c.value("files", nlohmann::json::array())) {
      files.push_back({f["Name"], f["Data"], f.value("Chomp", false)});
    }
    EXPECT_EQ(run.cmd.files, files) << c["dockerfile"];
  }
}

TEST(InstructionCorpus, ParseDevice) {
  auto cases = CorpusTableRows(kDevice, "TestParseDevice");
  ASSERT_EQ(cases.size(), 8u);
  for (const auto& c : cases) {
    std::string input = c["input"];
    auto r = ParseDevice(input);
    if (c["expectedErr"].is_null()) {
      ASSERT_TRUE(r) << input << ": " << r.error().message();
      EXPECT_EQ(r->name, c["expected"]["Name"]) << input;
      EXPECT_EQ(r->required, c["expected"]["Required"]) << input;
    } else {
      ASSERT_FALSE(r) << input;
      std::string expr = c["expectedErr"]["$expr"];  // errors.New("...")
      std::string want = expr.substr(expr.find('"') + 1);
      want = want.substr(0, want.rfind('"'));
      EXPECT_EQ(r.error().message(), want);
    }
  }
  auto run = ParseOne("RUN --device=vendor1.com/device=foo,required true");
  ASSERT_TRUE(run) << run.error().message();
  EXPECT_EQ(std::get<RunCommand>(run->command).devices,
            (std::vector<Device>{{"vendor1.com/device=foo", true}}));
}

TEST(Instruction, Errors) {
  EXPECT_EQ(ErrorOf("RUNN x"), "Dockerfile:1: unknown instruction: RUNN (did you mean RUN?)");
  EXPECT_EQ(ErrorOf("FROM a b"), "Dockerfile:1: FROM requires either one or three arguments");
  EXPECT_EQ(ErrorOf("FROM a AS 1x"),
            "Dockerfile:1: invalid name for build stage: \"1x\", name can't start with a number "
            "or contain symbols");
  EXPECT_EQ(ErrorOf("COPY --bogus a b"), "Dockerfile:1: unknown flag: --bogus");
  EXPECT_EQ(ErrorOf("COPY --form=x a b"), "Dockerfile:1: unknown flag: --form (did you mean from?)");
  EXPECT_EQ(ErrorOf("COPY --chown a b"), "Dockerfile:1: missing a value on flag: --chown");
  EXPECT_EQ(ErrorOf("COPY --link=maybe a b"),
            "Dockerfile:1: expecting boolean value for flag --link, not: maybe");
  EXPECT_EQ(ErrorOf("COPY --from=a --from=b a b"),
            "Dockerfile:1: duplicate flag specified: --from");
  EXPECT_EQ(ErrorOf("RUN --network=bridge true"), "Dockerfile:1: invalid network mode \"bridge\"");
  EXPECT_EQ(ErrorOf("RUN --security=x true"), "Dockerfile:1: security \"x\" is not valid");
  EXPECT_EQ(ErrorOf("RUN --mount=type=bnd true"),
            "Dockerfile:1: unsupported mount type \"bnd\" (did you mean bind?)");
  EXPECT_EQ(ErrorOf("RUN --mount=type=bind,mode=0700 true"),
            "Dockerfile:1: mode not allowed for \"bind\" type mounts");
  EXPECT_EQ(ErrorOf("RUN --mount=type=secret true"),
            "Dockerfile:1: invalid secret mount. one of source, target required");
  EXPECT_EQ(ErrorOf("HEALTHCHECK FOO x"), "Dockerfile:1: Unknown type \"FOO\" in HEALTHCHECK (try CMD)");
  EXPECT_EQ(ErrorOf("HEALTHCHECK --interval=1ns CMD x"),
            "Dockerfile:1: Interval \"interval\" cannot be less than 1ms");
  EXPECT_EQ(ErrorOf("HEALTHCHECK --retries=-1 CMD x"),
            "Dockerfile:1: --retries cannot be negative (-1)");
  EXPECT_EQ(ErrorOf("HEALTHCHECK NONE x"), "Dockerfile:1: HEALTHCHECK NONE takes no arguments");
  EXPECT_EQ(ErrorOf("ONBUILD MAINTAINER x"),
            "Dockerfile:1: MAINTAINER isn't allowed as an ONBUILD trigger");
  EXPECT_EQ(ErrorOf("ARG =x"), "Dockerfile:1: ARG names can not be blank");
  auto parsed = Parse("FROM a\n\nCOPY x");
  ASSERT_TRUE(parsed);
  auto all = ParseInstructions(parsed->root);
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error().message(),
            "Dockerfile:3: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined");
}

TEST(Instruction, Commands) {
  auto from = ParseOne("FROM --platform=linux/arm64 alpine AS Build");
  ASSERT_TRUE(from) << from.error().message();
  const auto& f = std::get<FromCommand>(from->command);
  EXPECT_EQ(f.base_name, "alpine");
  EXPECT_EQ(f.name, "build");
  EXPECT_EQ(f.platform, "linux/arm64");

  auto run = ParseOne(
      "RUN --mount=type=cache,target=/c,sharing=locked,id=x,mode=0755 "
      "--mount=type=tmpfs,target=/t,size=64m --mount=type=secret,id=tok,required "
      "--network=none --security=insecure make");
  ASSERT_TRUE(run) << run.error().message();
  const auto& r = std::get<RunCommand>(run->command);
  ASSERT_EQ(r.mounts.size(), 3u);
  EXPECT_EQ(r.mounts[0].type, MountType::kCache);
  EXPECT_EQ(r.mounts[0].cache_sharing, ShareMode::kLocked);
  EXPECT_EQ(r.mounts[0].mode, 0755u);
  EXPECT_FALSE(r.mounts[0].read_only);
  EXPECT_EQ(r.mounts[1].size_limit, 64 * 1024 * 1024);
  EXPECT_TRUE(r.mounts[2].required);
  EXPECT_TRUE(r.mounts[2].read_only);
  EXPECT_EQ(r.network, NetworkMode::kNone);
  EXPECT_EQ(r.security, SecurityMode::kInsecure);
  EXPECT_EQ(r.cmd.cmd_line, std::vector<std::string>{"make"});

  auto add = ParseOne("ADD --checksum=sha256:ab --keep-git-dir --exclude=a --exclude=b x /y");
  ASSERT_TRUE(add) << add.error().message();
  const auto& a = std::get<AddCommand>(add->command);
  EXPECT_EQ(a.checksum, "sha256:ab");
  EXPECT_EQ(a.keep_git_dir, true);
  EXPECT_EQ(a.exclude_patterns, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(a.unpack.has_value());

  auto arg = ParseOne("ARG a b=1 c=");
  ASSERT_TRUE(arg);
  EXPECT_EQ(std::get<ArgCommand>(arg->command).args,
            (std::vector<KeyValuePairOptional>{{"a", std::nullopt}, {"b", "1"}, {"c", ""}}));

  auto hc = ParseOne("HEALTHCHECK --interval=1m30s --retries=3 CMD [\"curl\", \"x\"]");
  ASSERT_TRUE(hc) << hc.error().message();
  const auto& h = std::get<HealthCheckCommand>(hc->command).health;
  EXPECT_EQ(h.test, (std::vector<std::string>{"CMD", "curl", "x"}));
  EXPECT_EQ(h.interval, std::chrono::seconds(90));
  EXPECT_EQ(h.retries, 3);

  auto onbuild = ParseOne("ONBUILD RUN echo hi");
  ASSERT_TRUE(onbuild);
  EXPECT_EQ(std::get<OnbuildCommand>(onbuild->command).expression, "RUN echo hi");

  auto expose = ParseOne("EXPOSE 80 443/tcp 22");
  ASSERT_TRUE(expose);
  EXPECT_EQ(std::get<ExposeCommand>(expose->command).ports,
            (std::vector<std::string>{"22", "443/tcp", "80"}));
  EXPECT_TRUE(ParseOne("SHELL [\"/bin/sh\", \"-c\"]"));
  EXPECT_FALSE(ParseOne("SHELL /bin/sh -c"));
  auto env = ParseOne("ENV a=1 b=2");
  ASSERT_TRUE(env);
  EXPECT_EQ(std::get<EnvCommand>(env->command).env.size(), 2u);
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
