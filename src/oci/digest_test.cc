#include "oci/digest.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/testing/corpus.h"

namespace hoist::oci {
namespace {

using nlohmann::json;

// One row of go-digest's TestParseDigest table.
struct ParseVector {
  std::string input;
  std::string algorithm;  // empty when the input does not split
  std::string encoded;
  std::string error;  // "" or the go-digest error identifier
};

std::vector<ParseVector> LoadParseVectors() {
  std::vector<ParseVector> out;
  for (const json& row : CorpusTableRows("opencontainers-go-digest/derived/digest_test.tables.json",
                                         "TestParseDigest")) {
    ParseVector v;
    v.input = row.value("Input", "");
    v.algorithm = row.value("Algorithm", "");
    v.encoded = row.value("Encoded", "");
    if (row.contains("Err")) v.error = row["Err"].value("$ident", "");
    out.push_back(std::move(v));
  }
  return out;
}

TEST(DigestCorpus, VectorsPresent) { EXPECT_EQ(LoadParseVectors().size(), 17u); }

class DigestParseVector : public testing::TestWithParam<ParseVector> {};

TEST_P(DigestParseVector, MatchesGoDigest) {
  const ParseVector& v = GetParam();
  Result<Digest> d = Digest::Parse(v.input);
  if (v.error.empty()) {
    ASSERT_TRUE(d.has_value()) << d.error().message();
    EXPECT_EQ(d->algorithm(), v.algorithm);
    EXPECT_EQ(d->encoded(), v.encoded);
    EXPECT_EQ(d->str(), v.input);
    EXPECT_TRUE(d->valid());
    return;
  }
  ASSERT_FALSE(d.has_value()) << v.input;
  EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
  std::string reason;
  if (v.error == "digest.ErrDigestInvalidFormat") {
    reason = "invalid checksum digest format";
  } else if (v.error == "digest.ErrDigestInvalidLength") {
    reason = "invalid checksum digest length";
  } else if (v.error == "digest.ErrDigestUnsupported") {
    reason = "unsupported digest algorithm";
  } else {
    FAIL() << "unknown error identifier " << v.error;
  }
  EXPECT_EQ(d.error().message(), "invalid digest \"" + v.input + "\": " + reason);
}

INSTANTIATE_TEST_SUITE_P(GoDigest, DigestParseVector, testing::ValuesIn(LoadParseVectors()),
                         [](const testing::TestParamInfo<ParseVector>& info) {
                           return "Case" + std::to_string(info.index);
                         });

// go-digest's verifier table lists digests for which no hash can be made. hoist refuses them
// at parse time, so a Digester can never be built for them.
struct VerifierVector {
  std::string name;
  std::string digest;
};

std::vector<VerifierVector> LoadVerifierVectors() {
  std::vector<VerifierVector> out;
  for (const json& row : CorpusTableRows(
           "opencontainers-go-digest/derived/verifiers_test.tables.json",
           "TestVerifierUnsupportedDigest")) {
    out.push_back({row.value("Name", ""), row.value("Digest", "")});
  }
  return out;
}

TEST(DigestCorpus, VerifierVectorsPresent) { EXPECT_EQ(LoadVerifierVectors().size(), 4u); }

class DigestVerifierVector : public testing::TestWithParam<VerifierVector> {};

TEST_P(DigestVerifierVector, RejectedBeforeHashing) {
  Result<Digest> d = Digest::Parse(GetParam().digest);
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().code(), Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(GoDigest, DigestVerifierVector, testing::ValuesIn(LoadVerifierVectors()),
                         [](const testing::TestParamInfo<VerifierVector>& info) {
                           return info.param.name;
                         });

TEST(Digest, DefaultIsInvalid) {
  Digest d;
  EXPECT_FALSE(d.valid());
  EXPECT_EQ(d.str(), "");
}

TEST(Digest, Sha256OfEmpty) {
  Digest d = Digest::Sha256Of("");
  EXPECT_EQ(d.str(), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(d.algorithm(), "sha256");
  EXPECT_EQ(d.encoded(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Digest, ErrorQuotesControlCharacters) {
  Result<Digest> d = Digest::Parse("sha256:\n");
  ASSERT_FALSE(d.has_value());
  EXPECT_EQ(d.error().message(), "invalid digest \"sha256:\\n\": invalid checksum digest length");
}

TEST(Digest, UnsupportedVersusInvalidFormat) {
  EXPECT_NE(Digest::Parse("md5:0123").error().message().find("unsupported"), std::string::npos);
  EXPECT_NE(Digest::Parse("md5:01/23").error().message().find("format"), std::string::npos);
  EXPECT_NE(Digest::Parse("-md5:0123").error().message().find("format"), std::string::npos);
  EXPECT_NE(Digest::Parse("md5-:0123").error().message().find("format"), std::string::npos);
  EXPECT_NE(Digest::Parse("MD5:0123").error().message().find("format"), std::string::npos);
}

TEST(Digest, ParseAllowUnsupported) {
  Result<Digest> d = Digest::ParseAllowUnsupported("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3Td");
  ASSERT_TRUE(d.has_value()) << d.error().message();
  EXPECT_TRUE(d->valid());
  EXPECT_FALSE(d->supported());
  EXPECT_EQ(d->algorithm(), "multihash+base58");
  EXPECT_EQ(d->encoded(), "QmRZxt2b1FVZPNqd8hsiykDL3Td");
  // Registered algorithms keep their strict rules.
  EXPECT_FALSE(Digest::ParseAllowUnsupported("sha256:abc").has_value());
  EXPECT_FALSE(Digest::ParseAllowUnsupported("sha256+foo+-b:abc").has_value());
  EXPECT_FALSE(Digest::ParseAllowUnsupported("foo:a/b").has_value());
  EXPECT_TRUE(Digest::Sha256Of("").supported());
  EXPECT_FALSE(Digest().supported());
}

TEST(Digester, UnsupportedExpectedNeverMatches) {
  Digest foreign = *Digest::ParseAllowUnsupported("foo:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Digester d(foreign);
  EXPECT_NE(d.Finish(), foreign);
}

TEST(Digest, Ordering) {
  Digest a = *Digest::Parse("sha256:" + std::string(64, 'a'));
  Digest b = *Digest::Parse("sha256:" + std::string(64, 'b'));
  EXPECT_LT(a, b);
  EXPECT_EQ(a, *Digest::Parse(a.str()));
  EXPECT_EQ(std::hash<Digest>()(a), std::hash<Digest>()(*Digest::Parse(a.str())));
}

struct KnownHash {
  std::string algorithm;
  std::string empty_hex;
};

class DigesterAlgorithm : public testing::TestWithParam<KnownHash> {};

TEST_P(DigesterAlgorithm, HashesStreamedBytes) {
  const KnownHash& k = GetParam();
  Digest expected = *Digest::Parse(k.algorithm + ":" + k.empty_hex);
  Digester d(expected);
  EXPECT_EQ(d.Finish(), expected);
  // "abc" in two pieces equals "abc" at once, and the digester is reusable after Finish.
  d.Update("a");
  d.Update(std::string_view("bc"));
  Digest split = d.Finish();
  d.Update("abc");
  EXPECT_EQ(d.Finish(), split);
  EXPECT_EQ(split.algorithm(), k.algorithm);
  EXPECT_TRUE(Digest::Parse(split.str()).has_value());
}

INSTANTIATE_TEST_SUITE_P(
    All, DigesterAlgorithm,
    testing::Values(
        KnownHash{"sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        KnownHash{"sha384",
                  "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65f"
                  "bd51ad2f14898b95b"},
        KnownHash{"sha512",
                  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b"
                  "0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"}),
    [](const testing::TestParamInfo<KnownHash>& info) { return info.param.algorithm; });

TEST(Digester, DefaultIsSha256) {
  Digester d;
  d.Update("hello");
  EXPECT_EQ(d.Finish(), Digest::Sha256Of("hello"));
}

}  // namespace
}  // namespace hoist::oci
