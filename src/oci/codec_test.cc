#include <gtest/gtest.h>

#include <string>

#include "oci/descriptor.h"
#include "oci/image_config.h"
#include "oci/image_layout.h"
#include "oci/index.h"
#include "oci/manifest.h"
#include "oci/media_types.h"

namespace hoist::oci {
namespace {

const std::string kSha = "sha256:" + std::string(64, 'a');
const std::string kSha2 = "sha256:" + std::string(64, 'b');

std::string Desc(std::string_view media_type, const std::string& digest, int size,
                 std::string_view extra = "") {
  return "{\"mediaType\":\"" + std::string(media_type) + "\",\"digest\":\"" + digest +
         "\",\"size\":" + std::to_string(size) + std::string(extra) + "}";
}

std::string ManifestJson(const std::string& layers, std::string_view extra = "") {
  return "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
         "\"config\":" + Desc(kMediaTypeImageConfig, kSha, 7) + ",\"layers\":[" + layers + "]" +
         std::string(extra) + "}";
}

template <typename T>
std::string ErrorOf(const Result<T>& r) {
  return r ? std::string("<ok>") : r.error().message();
}

TEST(Manifest, CanonicalRoundTripIsByteIdentical) {
  std::string in = ManifestJson(Desc(kMediaTypeImageLayerGzip, kSha2, 3),
                                ",\"annotations\":{\"b\":\"2\",\"a\":\"1\"}");
  Result<Manifest> m = ParseManifest(in);
  ASSERT_TRUE(m) << m.error().message();
  std::string out = SerializeManifest(*m);
  EXPECT_EQ(out,
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
            "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" +
                kSha + "\",\"size\":7},\"layers\":[{\"mediaType\":"
                       "\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" +
                kSha2 + "\",\"size\":3}],\"annotations\":{\"a\":\"1\",\"b\":\"2\"}}");
  EXPECT_EQ(SerializeManifest(*ParseManifest(out)), out);
}

TEST(Manifest, UnknownFieldsSurviveAtEveryLevel) {
  std::string in = ManifestJson(
      Desc(kMediaTypeImageLayer, kSha2, 3, ",\"x-layer\":{\"z\":1,\"a\":[true,null]}"),
      ",\"zzz\":\"q\",\"aaa\":1.5");
  Result<Manifest> m = ParseManifest(in);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->unknown_fields.at("zzz"), "\"q\"");
  EXPECT_EQ(m->unknown_fields.at("aaa"), "1.5");
  // Member order inside an unknown value is kept, as Go's json.RawMessage keeps it.
  EXPECT_EQ(m->layers[0].unknown_fields.at("x-layer"), "{\"z\":1,\"a\":[true,null]}");
  std::string out = SerializeManifest(*m);
  EXPECT_NE(out.find("\"size\":3,\"x-layer\":{\"z\":1,\"a\":[true,null]}}"), std::string::npos);
  EXPECT_NE(out.find("\"aaa\":1.5,\"zzz\":\"q\"}"), std::string::npos);
  EXPECT_EQ(*ParseManifest(out), *m);
}

TEST(Manifest, EscapesLikeGo) {
  Manifest m = *ParseManifest(ManifestJson(Desc(kMediaTypeImageLayer, kSha2, 3)));
  m.annotations["k"] = "<a&b>\u2028\x01\b\f\n\"\\é";
  m.annotations["bad"] = std::string("x\xff", 2);
  std::string out = SerializeManifest(m);
  EXPECT_NE(out.find(R"("k":"\u003ca\u0026b\u003e\u2028\u0001\b\f\n\"\\é")"), std::string::npos) << out;
  EXPECT_NE(out.find("\"bad\":\"x\xef\xbf\xbd\""), std::string::npos) << out;
  Result<Manifest> again = ParseManifest(out);
  ASSERT_TRUE(again) << again.error().message();
  EXPECT_EQ(again->annotations.at("k"), m.annotations.at("k"));
  EXPECT_EQ(SerializeManifest(*again), out);
}

TEST(Manifest, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(ParseManifest(ManifestJson(Desc(kMediaTypeImageLayer, kSha, 1) + "," +
                                               Desc(kMediaTypeImageLayer, kSha, 1) + "," +
                                               Desc(kMediaTypeImageLayer, "sha256:zz", 1)))),
            "manifest: field \"layers[2].digest\": invalid digest \"sha256:zz\": invalid checksum "
            "digest length");
  EXPECT_EQ(ErrorOf(ParseManifest(ManifestJson(Desc(kMediaTypeImageLayer, kSha, -1)))),
            "manifest: field \"layers[0].size\": must not be negative, got -1");
  std::string v3 = ManifestJson(Desc(kMediaTypeImageLayer, kSha, 1));
  v3.replace(v3.find("\"schemaVersion\":2"), 17, "\"schemaVersion\":3");
  EXPECT_EQ(ErrorOf(ParseManifest(v3)), "manifest: field \"schemaVersion\": must be 2, got 3");
  std::string wrong_type = ManifestJson(Desc(kMediaTypeImageLayer, kSha, 1));
  wrong_type.replace(wrong_type.find(kMediaTypeImageManifest), kMediaTypeImageManifest.size(),
                     kMediaTypeImageIndex);
  EXPECT_EQ(ErrorOf(ParseManifest(wrong_type)),
            "manifest: field \"mediaType\": \"application/vnd.oci.image.index.v1+json\" is not a "
            "manifest media type");
  EXPECT_EQ(ErrorOf(ParseManifest(ManifestJson(Desc(kMediaTypeImageLayer, kSha, 1),
                                               ",\"manifests\":[]"))),
            "manifest: field \"manifests\": not allowed in a manifest (ambiguous with an index)");
  EXPECT_EQ(ErrorOf(ParseManifest(
                ManifestJson(Desc(kMediaTypeImageLayer, kSha, 1, ",\"urls\":[\"a b\"]")))),
            "manifest: field \"layers[0].urls[0]\": invalid URL \"a b\"");
  EXPECT_EQ(ErrorOf(ParseManifest("[]")), "manifest: expected object, got array");
  EXPECT_EQ(ErrorOf(ParseManifest("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"a/b\","
                                  "\"digest\":\"" + kSha + "\",\"size\":\"1\"},\"layers\":[]}")),
            "manifest: field \"config.size\": expected integer, got string");
  EXPECT_EQ(ParseManifest("{").error().code(), Code::kInvalidArgument);
  EXPECT_EQ(ErrorOf(ParseManifest(std::string(1000, '[') + std::string(1000, ']'))),
            "manifest: document nested too deeply");
}

TEST(Manifest, DockerSchema2IsAManifest) {
  std::string in = ManifestJson(Desc(kMediaTypeDockerLayerGzip, kSha2, 3));
  in.replace(in.find(kMediaTypeImageManifest), kMediaTypeImageManifest.size(),
             kMediaTypeDockerManifest);
  Result<Manifest> m = ParseManifest(in);
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->media_type, kMediaTypeDockerManifest);
}

TEST(Index, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(ParseIndex("{\"schemaVersion\":2,\"manifests\":\"x\"}")),
            "index: field \"manifests\": expected array, got string");
  EXPECT_EQ(ErrorOf(ParseIndex("{\"schemaVersion\":2}")),
            "index: field \"manifests\": required field is missing");
  EXPECT_EQ(ErrorOf(ParseIndex("{\"manifests\":[]}")),
            "index: field \"schemaVersion\": required field is missing");
  EXPECT_EQ(ErrorOf(ParseIndex("{\"schemaVersion\":2,\"manifests\":[],\"layers\":[]}")),
            "index: field \"layers\": not allowed in an index (ambiguous with a manifest)");
  EXPECT_EQ(ErrorOf(ParseIndex("{\"schemaVersion\":2,\"manifests\":[" +
                               Desc(kMediaTypeImageManifest, kSha, 1, ",\"data\":\"YQ=\"") + "]}")),
            "index: field \"manifests[0].data\": not canonical padded base64");
}

TEST(Index, PlatformAndUnknownFieldsRoundTrip) {
  std::string in = "{\"schemaVersion\":2,\"mediaType\":\"" + std::string(kMediaTypeImageIndex) +
                   "\",\"manifests\":[" +
                   Desc(kMediaTypeImageManifest, kSha, 1,
                        ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":"
                        "\"v8\",\"os.features\":[\"f\"]},\"data\":\"YWI=\"") +
                   "],\"x\":{}}";
  Result<Index> index = ParseIndex(in);
  ASSERT_TRUE(index) << index.error().message();
  ASSERT_TRUE(index->manifests[0].platform);
  EXPECT_EQ(index->manifests[0].platform->variant, "v8");
  std::string out = SerializeIndex(*index);
  EXPECT_NE(out.find("\"data\":\"YWI=\",\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\","
                     "\"os.features\":[\"f\"],\"variant\":\"v8\"}}],\"x\":{}}"),
            std::string::npos)
      << out;
  EXPECT_EQ(SerializeIndex(*ParseIndex(out)), out);
}

TEST(Descriptor, UnsupportedAlgorithmIsValidButUnsupported) {
  Result<Descriptor> d = ParseDescriptor(Desc("a/b", "multihash+base58:QmRZ", 1));
  ASSERT_TRUE(d) << d.error().message();
  EXPECT_FALSE(d->digest.supported());
  EXPECT_EQ(SerializeDescriptor(*d), Desc("a/b", "multihash+base58:QmRZ", 1));
}

TEST(Platform, JsonCodec) {
  Result<Platform> p = ParsePlatformJson(R"({"architecture":"amd64","os":"linux"})");
  ASSERT_TRUE(p);
  EXPECT_EQ(SerializePlatform(*p), R"({"architecture":"amd64","os":"linux"})");
  EXPECT_EQ(ErrorOf(ParsePlatformJson(R"({"os":"linux"})")),
            "platform: field \"architecture\": required field is missing");
}

const char kConfig[] = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}})";

std::string ConfigWith(std::string_view config_member) {
  std::string s = kConfig;
  s.insert(s.size() - 1, ",\"config\":" + std::string(config_member));
  return s;
}

TEST(ImageConfig, CmdAbsentNullAndEmptyDiffer) {
  Result<ImageConfig> absent = ParseImageConfig(ConfigWith("{}"));
  Result<ImageConfig> null = ParseImageConfig(ConfigWith(R"({"Cmd":null})"));
  Result<ImageConfig> empty = ParseImageConfig(ConfigWith(R"({"Cmd":[]})"));
  ASSERT_TRUE(absent && null && empty);
  EXPECT_FALSE(absent->config.cmd);
  EXPECT_FALSE(null->config.cmd);
  ASSERT_TRUE(empty->config.cmd);
  EXPECT_TRUE(empty->config.cmd->empty());
  EXPECT_EQ(SerializeImageConfig(*empty),
            R"({"architecture":"amd64","os":"linux","config":{"Cmd":[]},"rootfs":{"type":"layers","diff_ids":[]}})");
  EXPECT_EQ(SerializeImageConfig(*null),
            R"({"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}})");
}

TEST(ImageConfig, FullDockerConfigRoundTrips) {
  std::string in = R"({"created":"2024-01-02T03:04:05.5+01:00","author":"a","architecture":"arm64","variant":"v8","os":"linux",)"
                   R"("config":{"User":"u","Memory":5,"ExposedPorts":{"80/tcp":{}},"Env":["A=1","B="],)"
                   R"("Entrypoint":["/e"],"Cmd":["c"],"Volumes":{"/v":{}},"WorkingDir":"/w","Labels":{"l":"v"},)"
                   R"("StopSignal":"SIGTERM","ArgsEscaped":true,"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000,)"
                   R"("Retries":3,"StartInterval":5},"OnBuild":["RUN x"],"Shell":["/bin/sh","-c"],"Hostname":"h"},)"
                   R"("rootfs":{"type":"layers","diff_ids":[")" + kSha + R"("]},)"
                   R"("history":[{"created":"2024-01-02T03:04:05Z","created_by":"RUN x","empty_layer":true,"x":1}],)"
                   R"("docker_version":"1"})";
  Result<ImageConfig> c = ParseImageConfig(in);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->config.healthcheck->retries, 3);
  EXPECT_EQ(c->config.unknown_fields.at("Hostname"), "\"h\"");
  EXPECT_EQ(c->unknown_fields.at("docker_version"), "\"1\"");
  EXPECT_EQ(c->history[0].unknown_fields.at("x"), "1");
  std::string out = SerializeImageConfig(*c);
  EXPECT_EQ(out,
            R"({"created":"2024-01-02T03:04:05.5+01:00","author":"a","architecture":"arm64","os":"linux","variant":"v8",)"
            R"("config":{"User":"u","Memory":5,"ExposedPorts":{"80/tcp":{}},"Env":["A=1","B="],"Entrypoint":["/e"],)"
            R"("Cmd":["c"],"Volumes":{"/v":{}},"WorkingDir":"/w","Labels":{"l":"v"},"StopSignal":"SIGTERM",)"
            R"("ArgsEscaped":true,"Healthcheck":{"Test":["CMD","true"],"Interval":1000000000,"StartInterval":5,)"
            R"("Retries":3},"OnBuild":["RUN x"],"Shell":["/bin/sh","-c"],"Hostname":"h"},)"
            R"("rootfs":{"type":"layers","diff_ids":[")" + kSha + R"("]},)"
            R"("history":[{"created":"2024-01-02T03:04:05Z","created_by":"RUN x","empty_layer":true,"x":1}],)"
            R"("docker_version":"1"})");
  EXPECT_EQ(SerializeImageConfig(*ParseImageConfig(out)), out);
}

TEST(ImageConfig, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(ParseImageConfig(ConfigWith(R"({"Env":["A=1","B"]})"))),
            "config: field \"config.Env[1]\": \"B\" is not KEY=VALUE");
  EXPECT_EQ(ErrorOf(ParseImageConfig(ConfigWith(R"({"Env":["=x"]})"))),
            "config: field \"config.Env[0]\": \"=x\" is not KEY=VALUE");
  EXPECT_EQ(ErrorOf(ParseImageConfig(ConfigWith(R"({"Env":[7353]})"))),
            "config: field \"config.Env[0]\": expected string, got number");
  EXPECT_EQ(ErrorOf(ParseImageConfig(ConfigWith(R"({"Volumes":["/a"]})"))),
            "config: field \"config.Volumes\": expected object, got array");
  std::string history = kConfig;
  history.insert(history.size() - 1, R"(,"history":"x")");
  EXPECT_EQ(ErrorOf(ParseImageConfig(history)),
            "config: field \"history\": expected array, got string");
  std::string created = kConfig;
  created.insert(created.size() - 1, R"(,"created":"yesterday")");
  EXPECT_EQ(ErrorOf(ParseImageConfig(created)),
            "config: field \"created\": \"yesterday\" is not an RFC 3339 date-time");
  EXPECT_EQ(ErrorOf(ParseImageConfig(R"({"architecture":"amd64","os":"linux"})")),
            "config: field \"rootfs\": required field is missing");
  EXPECT_EQ(ErrorOf(ParseImageConfig(
                R"({"architecture":"amd64","os":"linux","rootfs":{"type":"x","diff_ids":[]}})")),
            "config: field \"rootfs.type\": must be \"layers\", got \"x\"");
  EXPECT_EQ(ErrorOf(ParseImageConfig(
                R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["SHA256:x"]}})")),
            "config: field \"rootfs.diff_ids[0]\": invalid digest \"SHA256:x\": invalid checksum "
            "digest format");
}

TEST(ImageLayout, Codec) {
  Result<ImageLayout> l = ParseImageLayout(R"({"imageLayoutVersion":"1.0.0"})");
  ASSERT_TRUE(l);
  EXPECT_EQ(SerializeImageLayout(*l), R"({"imageLayoutVersion":"1.0.0"})");
  EXPECT_EQ(ErrorOf(ParseImageLayout(R"({"imageLayoutVersion":"2.0.0"})")),
            "oci-layout: field \"imageLayoutVersion\": unsupported version \"2.0.0\" (want \"1.0.0\")");
}

TEST(MediaTypes, Predicates) {
  EXPECT_TRUE(IsIndexType(kMediaTypeDockerManifestList));
  EXPECT_TRUE(IsIndexType(kMediaTypeImageIndex));
  EXPECT_FALSE(IsIndexType(kMediaTypeImageManifest));
  EXPECT_TRUE(IsManifestType(kMediaTypeDockerManifest));
  EXPECT_TRUE(IsConfigType(kMediaTypeDockerConfig));
  EXPECT_FALSE(IsConfigType(kMediaTypeEmptyJson));
  EXPECT_TRUE(IsLayerType(kMediaTypeImageLayerNonDistributableZstd));
  EXPECT_FALSE(IsLayerType(kMediaTypeImageConfig));
  EXPECT_EQ(LayerCompression(kMediaTypeDockerLayerGzip), Compression::kGzip);
  EXPECT_EQ(LayerCompression(kMediaTypeImageLayerZstd), Compression::kZstd);
  EXPECT_EQ(LayerCompression(kMediaTypeDockerForeignLayer), Compression::kNone);
  EXPECT_EQ(LayerCompression("text/plain"), std::nullopt);
  EXPECT_TRUE(IsNonDistributableLayerType(kMediaTypeDockerForeignLayerGzip));
  EXPECT_TRUE(IsValidMediaType("application/vnd.oci.image.layer.v1.tar+gzip"));
  EXPECT_FALSE(IsValidMediaType("application/"));
  EXPECT_FALSE(IsValidMediaType("a/b/c"));
}

TEST(MediaTypes, Sniff) {
  EXPECT_EQ(SniffMediaType(R"({"manifests":[]})"), kMediaTypeImageIndex);
  EXPECT_EQ(SniffMediaType(R"({"config":{},"layers":[]})"), kMediaTypeImageManifest);
  EXPECT_EQ(SniffMediaType(R"({"layers":[]})"), kMediaTypeImageManifest);
  EXPECT_EQ(SniffMediaType(R"({"manifests":[],"layers":[]})"), "");
  EXPECT_EQ(SniffMediaType(R"({"architecture":"amd64"})"), "");
  EXPECT_EQ(SniffMediaType("not json"), "");
  EXPECT_EQ(SniffMediaType(R"({"mediaType":"x/y","manifests":[]})"), "x/y");
}

}  // namespace
}  // namespace hoist::oci
