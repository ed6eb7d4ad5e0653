// Parser error paths, warnings and line handling details, each pinned to BuildKit's wording.
#include <gtest/gtest.h>

#include <string>

#include "frontend/dockerfile/parser.h"

namespace hoist::frontend::dockerfile {
namespace {

std::string ErrorOf(std::string_view dockerfile) {
  auto parsed = Parse(dockerfile);
  if (parsed) return "(no error)";
  EXPECT_EQ(parsed.error().code(), Code::kInvalidArgument);
  return parsed.error().message();
}

std::string DumpOf(std::string_view dockerfile) {
  auto parsed = Parse(dockerfile);
  if (!parsed) return "error: " + parsed.error().message();
  return Dump(parsed->root);
}

TEST(ParserErrors, NoInstructions) {
  EXPECT_EQ(ErrorOf(""), "Dockerfile: file with no instructions");
  EXPECT_EQ(ErrorOf("# a\n\n# b\n"), "Dockerfile:3: file with no instructions");
}

TEST(ParserErrors, EnvNeedsTwoArguments) {
  EXPECT_EQ(ErrorOf("FROM a\nENV PATH\n"), "Dockerfile:2: ENV must have two arguments");
  EXPECT_EQ(ErrorOf("LABEL a\n"), "Dockerfile:1: LABEL must have two arguments");
}

TEST(ParserErrors, NameValueWithoutEquals) {
  EXPECT_EQ(ErrorOf("FROM a\nENV a=b \\\n  c\n"),
            "Dockerfile:2: Syntax error - can't find = in \"c\". Must be of the form: name=value");
}

TEST(ParserErrors, ExecFormWithNonStrings) {
  EXPECT_EQ(ErrorOf("ENTRYPOINT [\"a\", 1]\n"),
            "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only");
  EXPECT_EQ(ErrorOf("ONBUILD COPY [\"a\", {}]\n"),
            "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only");
  EXPECT_EQ(ErrorOf("HEALTHCHECK CMD [null]\n"),
            "Dockerfile:1: when using JSON array syntax, arrays must be comprised of strings only");
}

TEST(ParserErrors, UnterminatedHeredocNamesTheInstruction) {
  EXPECT_EQ(ErrorOf("FROM a\nRUN <<A <<B\na\nA\nb\n"), "Dockerfile:2: unterminated heredoc");
}

TEST(ParserErrors, LineTooLong) {
  std::string label(kMaxLineSize + 1, 'a');
  EXPECT_EQ(ErrorOf("\n\t\tFROM image\n\t\tLABEL test=" + label + "\n"),
            "Dockerfile:3: dockerfile line greater than max allowed size of 65535");
  // With nothing parsed before it, the file has no instructions.
  EXPECT_EQ(ErrorOf(label), "Dockerfile: file with no instructions");
}

TEST(ParserErrors, LongestLines) {
  // A line and its newline may fill the 64 KiB buffer; a last line without newline one less.
  std::string with_newline = "RUN " + std::string(kMaxLineSize - 4, 'a') + "\n";
  EXPECT_EQ(with_newline.size(), kMaxLineSize + 1);
  EXPECT_TRUE(Parse(with_newline));
  EXPECT_FALSE(Parse("RUN " + std::string(kMaxLineSize - 3, 'a') + "\n"));
  EXPECT_TRUE(Parse("RUN " + std::string(kMaxLineSize - 4, 'a')));
  EXPECT_FALSE(Parse("RUN " + std::string(kMaxLineSize - 3, 'a')));
}

TEST(ParserWarnings, EmptyContinuationLines) {
  auto parsed = Parse(R"(
FROM alpine:3.6

RUN valid \
    continuation

RUN something \

    following \

    more

RUN another \

    thing

RUN non-indented \
# this is a comment
   after-comment

RUN indented \
    # this is an indented comment
    comment
	)");
  ASSERT_TRUE(parsed) << parsed.error().message();
  ASSERT_EQ(parsed->warnings.size(), 2u);
  EXPECT_EQ(parsed->warnings[0].short_message,
            "Empty continuation line found in: RUN something     following     more");
  EXPECT_EQ(parsed->warnings[0].line, 11);
  EXPECT_EQ(parsed->warnings[1].short_message,
            "Empty continuation line found in: RUN another     thing");
  ASSERT_EQ(parsed->warnings[0].detail.size(), 1u);
  EXPECT_EQ(parsed->warnings[0].detail[0],
            "Empty continuation lines will become errors in a future release");
  EXPECT_EQ(parsed->warnings[0].url,
            "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/");
  EXPECT_EQ(Dump(parsed->root),
            "(from \"alpine:3.6\")\n(run \"valid     continuation\")\n"
            "(run \"something     following     more\")\n(run \"another     thing\")\n"
            "(run \"non-indented    after-comment\")\n(run \"indented     comment\")");
}

TEST(ParserLines, ContinuationEscapedEscapeIsNotAContinuation) {
  EXPECT_EQ(DumpOf("RUN a \\\\\nRUN b\n"), "(run \"a \\\\\\\\\")\n(run \"b\")");
  EXPECT_EQ(DumpOf("RUN a \\ \t\n b\n"), "(run \"a  b\")");
}

TEST(ParserLines, CommentsAboveInstructions) {
  auto parsed = Parse("# one\n#  two \nFROM a\n#\n# three\nRUN b\nRUN c\n");
  ASSERT_TRUE(parsed);
  const auto& c = parsed->root.children;
  EXPECT_EQ(c[0].prev_comment, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(c[1].prev_comment, (std::vector<std::string>{"three"}));
  EXPECT_TRUE(c[2].prev_comment.empty());
}

TEST(ParserLines, OriginalAndFlags) {
  auto parsed = Parse("  COPY --from=build --chown=\"a b\" src dst  \n");
  ASSERT_TRUE(parsed);
  const Node& copy = parsed->root.children[0];
  EXPECT_EQ(copy.value, "COPY");
  EXPECT_EQ(copy.original, "COPY --from=build --chown=\"a b\" src dst  ");
  EXPECT_EQ(copy.flags, (std::vector<std::string>{"--from=build", "--chown=a b"}));
  EXPECT_EQ(Dump(parsed->root), "(copy [\"--from=build\" \"--chown=a b\"] \"src\" \"dst\")");
}

TEST(ParserShapes, UnknownInstructionKeepsAnEmptyArgument) {
  EXPECT_EQ(DumpOf("FROM a\nFOO bar baz\n"), "(from \"a\")\n(foo \"\")");
}

TEST(ParserShapes, ArgWords) {
  EXPECT_EQ(DumpOf("ARG a b=\"c d\" e=\n"), "(arg \"a\" \"b=\\\"c d\\\"\" \"e=\")");
}

TEST(ParserShapes, OnbuildNests) {
  EXPECT_EQ(DumpOf("ONBUILD --x=1 ADD [\"a\", \"b\"]\n"),
            "(onbuild [\"--x=1\"] (add \"a\" \"b\"))");
  EXPECT_EQ(DumpOf("ONBUILD\n"), "(onbuild)");
}

TEST(ParserShapes, KeywordCaseIsKept) {
  auto parsed = Parse("fRoM a\n");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->root.children[0].value, "fRoM");
  EXPECT_EQ(Dump(parsed->root), "(from \"a\")");
}

TEST(Dump, QuotesAsGo) {
  Node root;
  Node run;
  run.value = "RUN";
  const char* values[] = {"\a\b\f\n\r\t\v\\\"", std::string_view("\x00\x1f\x7f", 3).data(),
                          "\xC2\xA0\xE2\x80\x8B", "h\xC3\xA9llo \xF0\x9F\x98\x80", "\xFF\xC3"};
  for (const char* v : values) {
    Node arg;
    arg.value = v;
    run.next.push_back(arg);
  }
  run.next[1].value = std::string("\x00\x1f\x7f", 3);
  root.children.push_back(run);
  EXPECT_EQ(Dump(root),
            "(run \"\\a\\b\\f\\n\\r\\t\\v\\\\\\\"\" \"\\x00\\x1f\\x7f\" \"\\u00a0\\u200b\" "
            "\"h\xC3\xA9llo \xF0\x9F\x98\x80\" \"\\xff\\xc3\")");
}

}  // namespace
}  // namespace hoist::frontend::dockerfile
