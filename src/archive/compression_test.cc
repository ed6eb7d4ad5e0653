#include "archive/compression.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "base/file_system.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"

namespace hoist::archive {
namespace {


// Text-like data that compresses well but not trivially.
std::string CompressibleBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  static const char* kWords[] = {"layer ", "digest ", "sha256 ", "tar ", "gzip ", "zstd\n",
                                 "usr/",   "bin/",    "lib/",    "etc/", "0644 ", "root "};
  std::string s;
  s.reserve(n + 16);
  while (s.size() < n) s += kWords[rng() % 12];
  s.resize(n);
  return s;
}

Result<std::string> Compress(const CompressorOptions& opts, std::string_view data,
                             size_t piece = 100000) {
  std::string out;
  StringByteSink sink(&out);
  HOIST_ASSIGN_OR_RETURN(auto c, NewCompressor(opts, &sink));
  for (size_t i = 0; i < data.size(); i += piece) HOIST_TRY(c->Write(data.substr(i, piece)));
  HOIST_TRY(c->Finish());
  return out;
}

Result<std::string> ReadAllFrom(ByteSource* src, size_t piece) {
  std::string out;
  std::string buf(piece, '\0');
  for (;;) {
    HOIST_ASSIGN_OR_RETURN(size_t got, src->Read(buf.data(), buf.size()));
    if (got == 0) return out;
    out.append(buf.data(), got);
  }
}

Result<std::string> Decompress(Compression c, std::string data,
                               GzipEngine engine = GzipEngine::kAuto, size_t piece = 65536) {
  StringByteSource in(std::move(data));
  HOIST_ASSIGN_OR_RETURN(auto src, NewDecompressor(c, &in, engine));
  return ReadAllFrom(src.get(), piece);
}

struct Case {
  Compression compression;
  GzipEngine engine;
  int level;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  const Case& c = info.param;
  std::string engine = c.compression != Compression::kGzip ? ""
                       : c.engine == GzipEngine::kIsal     ? "Isal"
                                                           : "Zlib";
  std::string level = c.level < 0 ? "m" + std::to_string(-c.level) : std::to_string(c.level);
  return std::string(CompressionName(c.compression)) + engine + "L" + level;
}

std::vector<Case> AllCases() {
  std::vector<Case> v;
  for (int l = 0; l <= 3; ++l) v.push_back({Compression::kGzip, GzipEngine::kIsal, l});
  for (int l = 0; l <= 9; ++l) v.push_back({Compression::kGzip, GzipEngine::kZlib, l});
  for (int l : {-5, 1, 3, 9, 19}) v.push_back({Compression::kZstd, GzipEngine::kAuto, l});
  v.push_back({Compression::kNone, GzipEngine::kAuto, 0});
  return v;
}

class CompressRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(CompressRoundTrip, RandomAndCompressible) {
  const Case& c = GetParam();
  CompressorOptions opts{c.compression, c.level, c.engine};
  for (size_t size : {size_t{0}, size_t{1}, size_t{4097}, size_t{3} << 20}) {
    for (bool random : {true, false}) {
      std::string data = random ? RandomTestBytes(size, 7) : CompressibleBytes(size, 7);
      auto z = Compress(opts, data);
      ASSERT_TRUE(z) << z.error().message();
      if (c.compression != Compression::kNone && !random && size > 4096 && c.level != 0) {
        EXPECT_LT(z->size(), data.size() / 2) << "size " << size;
      }
      // Every gzip stream must read back with both decoders.
      for (GzipEngine e : {GzipEngine::kIsal, GzipEngine::kZlib}) {
        for (size_t piece : {size_t{1} << 16, size_t{777}}) {
          if (size > (1 << 20) && piece < 1000 && e == GzipEngine::kZlib) continue;
          auto back = Decompress(c.compression, *z, e, piece);
          ASSERT_TRUE(back) << back.error().message();
          EXPECT_TRUE(*back == data) << "size " << size << " random " << random;
        }
        if (c.compression != Compression::kGzip) break;
      }
      // Auto-detection picks the right decoder (an empty uncompressed stream is just empty).
      StringByteSource in(*z);
      Compression detected;
      auto src = NewAutoDecompressor(&in, &detected);
      ASSERT_TRUE(src) << src.error().message();
      auto back = ReadAllFrom(src->get(), 4096);
      ASSERT_TRUE(back) << back.error().message();
      EXPECT_TRUE(*back == data);
      if (c.compression != Compression::kNone) {
        EXPECT_EQ(detected, c.compression);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Compress, CompressRoundTrip, ::testing::ValuesIn(AllCases()), CaseName);

class CompressTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = TempDir::Create("hoist-compress-test-");
    ASSERT_TRUE(d) << d.error().message();
    dir_ = std::move(*d);
  }
  std::string Path(std::string_view name) const { return JoinPath(dir_.path(), name); }
  int Sh(const std::string& cmd) {
    return std::system(("cd '" + dir_.path() + "' && " + cmd).c_str());
  }
  TempDir dir_;
};

TEST_F(CompressTest, OurGzipAndZstdReadByTheTools) {
  std::string data = CompressibleBytes(2 << 20, 3) + RandomTestBytes(300000, 4);
  WriteTestFile(Path("plain"), data);
  struct Tool {
    CompressorOptions opts;
    std::string cmd;
  };
  std::vector<Tool> tools = {
      {{Compression::kGzip, 1, GzipEngine::kIsal}, "gzip -t in && gzip -dc in > out"},
      {{Compression::kGzip, 3, GzipEngine::kIsal}, "gzip -t in && gzip -dc in > out"},
      {{Compression::kGzip, 0, GzipEngine::kIsal}, "gzip -t in && gzip -dc in > out"},
      {{Compression::kGzip, 6, GzipEngine::kZlib}, "gzip -t in && gzip -dc in > out"},
      {{Compression::kZstd, 3, GzipEngine::kAuto}, "zstd -q -t in && zstd -q -dc in > out"},
      {{Compression::kZstd, 19, GzipEngine::kAuto}, "zstd -q -dc in > out"},
  };
  for (const auto& t : tools) {
    auto z = Compress(t.opts, data);
    ASSERT_TRUE(z) << z.error().message();
    WriteTestFile(Path("in"), *z);
    std::remove(Path("out").c_str());
    ASSERT_EQ(Sh(t.cmd), 0) << t.cmd;
    EXPECT_TRUE(ReadTestFile(Path("out")) == data) << t.cmd;
  }
}

TEST_F(CompressTest, ToolOutputReadByUs) {
  std::string data = CompressibleBytes(1 << 20, 5) + RandomTestBytes(100000, 6);
  WriteTestFile(Path("plain"), data);
  struct Tool {
    std::string cmd;
    Compression c;
    std::string expect;
  };
  std::vector<Tool> tools = {
      {"gzip -9 -c plain > z", Compression::kGzip, data},
      {"gzip -1 -c plain > z", Compression::kGzip, data},
      // A header with FNAME (gzip -N records the name) and two members in a row.
      {"gzip -N -c plain > z && gzip -c plain >> z", Compression::kGzip, data + data},
      {"zstd -q -3 -c plain > z", Compression::kZstd, data},
      {"zstd -q --no-check -c plain > z && zstd -q -c plain >> z", Compression::kZstd, data + data},
      // ADD's other archive formats, read-only: xz with each integrity check, and two streams
      // in a row (as `xz -d` reads them); bzip2 at both ends of its block sizes, and
      // concatenated (as pbzip2 writes).
      {"xz -6 -c plain > z", Compression::kXz, data},
      {"xz -0 --check=none -c plain > z && xz --check=sha256 -c plain >> z", Compression::kXz,
       data + data},
      {"xz --check=crc32 -c plain > z", Compression::kXz, data},
      {"bzip2 -9 -c plain > z", Compression::kBzip2, data},
      {"bzip2 -1 -c plain > z && bzip2 -c plain >> z", Compression::kBzip2, data + data},
      {": > empty && xz -c empty > z", Compression::kXz, ""},
  };
  for (const auto& t : tools) {
    ASSERT_EQ(Sh(t.cmd), 0) << t.cmd;
    std::string z = ReadTestFile(Path("z"));
    for (GzipEngine e : {GzipEngine::kIsal, GzipEngine::kZlib}) {
      auto back = Decompress(t.c, z, e);
      ASSERT_TRUE(back) << t.cmd << ": " << back.error().message();
      EXPECT_TRUE(*back == t.expect) << t.cmd;
    }
    // Tiny reads cross every internal boundary (blocks, streams, the input buffer).
    auto small = Decompress(t.c, z, GzipEngine::kAuto, 7);
    ASSERT_TRUE(small) << t.cmd << ": " << small.error().message();
    EXPECT_TRUE(*small == t.expect) << t.cmd;
    StringByteSource in(z);
    Compression detected = Compression::kNone;
    auto dec = NewAutoDecompressor(&in, &detected);
    ASSERT_TRUE(dec) << t.cmd << ": " << dec.error().message();
    EXPECT_EQ(detected, t.c) << t.cmd;
  }
}

TEST_F(CompressTest, GzipWithAllHeaderFieldsFromPython) {
  // FEXTRA, FNAME, FCOMMENT and FHCRC together; Python's gzip writes only FNAME, so build the
  // header by hand around a raw deflate stream.
  ASSERT_EQ(Sh(R"(python3 - <<'EOF'
import zlib, struct
data = b'hello header fields\n' * 1000
co = zlib.compressobj(6, zlib.DEFLATED, -15)
raw = co.compress(data) + co.flush()
flags = 0x02 | 0x04 | 0x08 | 0x10
hdr = b'\x1f\x8b\x08' + bytes([flags]) + struct.pack('<I', 0) + b'\x00\x03'
hdr += struct.pack('<H', 4) + b'abcd' + b'name\x00' + b'comment\x00'
hdr += struct.pack('<H', zlib.crc32(hdr) & 0xffff)
open('z', 'wb').write(hdr + raw + struct.pack('<II', zlib.crc32(data), len(data)))
EOF)"),
            0);
  auto back = Decompress(Compression::kGzip, ReadTestFile(Path("z")));
  ASSERT_TRUE(back) << back.error().message();
  std::string expect;
  for (int i = 0; i < 1000; ++i) expect += "hello header fields\n";
  EXPECT_EQ(*back, expect);
}

TEST(CompressErrors, GzipCorruptCrcLengthAndTruncation) {
  std::string data = CompressibleBytes(200000, 9);
  auto z = Compress({Compression::kGzip, 1, GzipEngine::kIsal}, data);
  ASSERT_TRUE(z);
  for (GzipEngine e : {GzipEngine::kIsal, GzipEngine::kZlib}) {
    std::string bad_crc = *z;
    bad_crc[bad_crc.size() - 8] ^= 0x01;
    auto r = Decompress(Compression::kGzip, bad_crc, e);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kDataLoss);
    EXPECT_TRUE(r.error().message().starts_with("gzip: ")) << r.error().message();

    std::string bad_len = *z;
    bad_len[bad_len.size() - 1] ^= 0x01;
    r = Decompress(Compression::kGzip, bad_len, e);
    ASSERT_FALSE(r) << "ISIZE not checked";
    EXPECT_EQ(r.error().code(), Code::kDataLoss);

    // Cut anywhere: inside the header, the deflate data, the trailer.
    for (size_t cut :
         {size_t{0}, size_t{5}, size_t{10}, z->size() / 2, z->size() - 5, z->size() - 1}) {
      r = Decompress(Compression::kGzip, z->substr(0, cut), e);
      ASSERT_FALSE(r) << "cut at " << cut;
      EXPECT_EQ(r.error().code(), Code::kDataLoss);
      if (e == GzipEngine::kIsal) {
        EXPECT_EQ(r.error().message(), "gzip: unexpected end of stream") << "cut at " << cut;
      }
    }
    // Corrupt deflate data.
    std::string bad = *z;
    for (size_t i = 20; i < 60; ++i) bad[i] = static_cast<char>(0xff);
    r = Decompress(Compression::kGzip, bad, e);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kDataLoss);
    // Garbage after the stream.
    r = Decompress(Compression::kGzip, *z + "garbage", e);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "gzip: unexpected data after the end of the stream");
  }
}

TEST(CompressErrors, ZstdCorruptAndTruncated) {
  std::string data = CompressibleBytes(200000, 11);
  auto z = Compress({Compression::kZstd, 3, GzipEngine::kAuto}, data);
  ASSERT_TRUE(z);
  for (size_t cut : {size_t{0}, size_t{3}, size_t{10}, z->size() / 2, z->size() - 1}) {
    auto r = Decompress(Compression::kZstd, z->substr(0, cut));
    ASSERT_FALSE(r) << "cut at " << cut;
    EXPECT_EQ(r.error().code(), Code::kDataLoss);
    EXPECT_EQ(r.error().message(), "zstd: unexpected end of stream") << "cut at " << cut;
  }
  std::string bad = *z;
  bad[bad.size() - 2] ^= 0x55;  // inside the content checksum
  auto r = Decompress(Compression::kZstd, bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kDataLoss);
  EXPECT_TRUE(r.error().message().starts_with("zstd: ")) << r.error().message();
  r = Decompress(Compression::kZstd, *z + "garbage!");
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().message().starts_with("zstd: ")) << r.error().message();
}

TEST(CompressErrors, LevelsAndUnsupportedFormats) {
  std::string out;
  StringByteSink sink(&out);
  EXPECT_EQ(NewCompressor({Compression::kGzip, 4, GzipEngine::kIsal}, &sink).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(NewCompressor({Compression::kGzip, 10, GzipEngine::kZlib}, &sink).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(NewCompressor({Compression::kZstd, 99, GzipEngine::kAuto}, &sink).error().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(NewCompressor({Compression::kXz, {}, GzipEngine::kAuto}, &sink).error().code(),
            Code::kUnimplemented);
  EXPECT_EQ(NewCompressor({Compression::kBzip2, {}, GzipEngine::kAuto}, &sink).error().code(),
            Code::kUnimplemented);
}

// Cut anywhere, flipped bytes and trailing garbage: kDataLoss naming the codec, never a crash
// or a silently short result.
TEST_F(CompressTest, XzAndBzip2CorruptAndTruncated) {
  std::string data = CompressibleBytes(300000, 13) + RandomTestBytes(50000, 14);
  WriteTestFile(Path("plain"), data);
  ASSERT_EQ(Sh("xz -c plain > z.xz && bzip2 -c plain > z.bz2"), 0);
  struct Case {
    Compression c;
    std::string z;
    std::string prefix;
  };
  for (const Case& k : {Case{Compression::kXz, ReadTestFile(Path("z.xz")), "xz: "},
                        Case{Compression::kBzip2, ReadTestFile(Path("z.bz2")), "bzip2: "}}) {
    SCOPED_TRACE(k.prefix);
    for (size_t cut : {size_t{0}, size_t{4}, size_t{11}, size_t{40}, k.z.size() / 2,
                       k.z.size() - 9, k.z.size() - 1}) {
      auto r = Decompress(k.c, k.z.substr(0, cut));
      ASSERT_FALSE(r) << "cut at " << cut;
      EXPECT_EQ(r.error().code(), Code::kDataLoss) << r.error().message();
      EXPECT_TRUE(r.error().message().starts_with(k.prefix)) << r.error().message();
    }
    std::string bad = k.z;
    for (size_t i = bad.size() / 3; i < bad.size() / 3 + 16; ++i) bad[i] ^= 0x5a;
    auto r = Decompress(k.c, bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::kDataLoss);
    EXPECT_TRUE(r.error().message().starts_with(k.prefix)) << r.error().message();
    r = Decompress(k.c, k.z + "garbage after the stream");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message().starts_with(k.prefix)) << r.error().message();
  }
}

// A stream whose block header asks for a 2 GiB dictionary is refused before anything that large
// is allocated. The header is patched by hand (with its CRC32), as no encoder here could make
// such a stream cheaply.
TEST_F(CompressTest, XzDictionaryBeyondTheMemoryLimitIsRefused) {
  ASSERT_EQ(Sh(R"(printf 'small' > plain && xz -c plain > z && python3 - <<'EOF'
import zlib, struct
z = bytearray(open('z', 'rb').read())
size = (z[12] + 1) * 4              # the first block header, after the 12-byte stream header
hdr = z[12:12 + size]
assert hdr[2] == 0x21 and hdr[3] == 1, hdr  # one filter: LZMA2 with a one-byte property
hdr[4] = 38                          # dictionary (2 | 0) << (38 / 2 + 11) = 2 GiB
hdr[-4:] = struct.pack('<I', zlib.crc32(bytes(hdr[:-4])))
z[12:12 + size] = hdr
open('z', 'wb').write(bytes(z))
EOF)"),
            0);
  auto r = Decompress(Compression::kXz, ReadTestFile(Path("z")));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(r.error().message(), "xz: the stream needs more than 512 MiB to decompress");
}

TEST(CompressErrors, AutoEngineUsesZlibForExplicitLevels) {
  // An explicit level means gzip -N: zlib's output, byte for byte what zlib gives at that level.
  std::string data = CompressibleBytes(100000, 1);
  auto a = Compress({Compression::kGzip, 6, GzipEngine::kAuto}, data);
  auto b = Compress({Compression::kGzip, 6, GzipEngine::kZlib}, data);
  auto c = Compress({Compression::kGzip, std::nullopt, GzipEngine::kAuto}, data);
  auto d = Compress({Compression::kGzip, 1, GzipEngine::kIsal}, data);
  ASSERT_TRUE(a && b && c && d);
  EXPECT_TRUE(*a == *b);
  EXPECT_TRUE(*c == *d);
  // Deterministic output: the same input gives the same bytes, however it was split.
  for (size_t piece : {size_t{333}, size_t{131072}, size_t{200000}}) {
    for (CompressorOptions o : {CompressorOptions{Compression::kGzip, 1, GzipEngine::kIsal},
                                CompressorOptions{Compression::kGzip, 3, GzipEngine::kIsal},
                                CompressorOptions{Compression::kGzip, 6, GzipEngine::kZlib},
                                CompressorOptions{Compression::kZstd, 3, GzipEngine::kAuto}}) {
      EXPECT_TRUE(*Compress(o, data, piece) == *Compress(o, data)) << piece;
    }
  }
}

// Throughput on ~100 MB of mixed data (half text-like, a quarter random, a quarter zeros).
// Run: ./hoist_unit_tests --gtest_also_run_disabled_tests --gtest_filter='*CompressThroughput*'
TEST(CompressBench, DISABLED_CompressThroughput) {
  const size_t kQuarter = 25 << 20;
  std::string data =
      CompressibleBytes(2 * kQuarter, 1) + RandomTestBytes(kQuarter, 2) + std::string(kQuarter, '\0');
  // Shuffle in 1 MiB blocks so every stretch mixes kinds, as a real layer does.
  {
    std::vector<std::string> blocks;
    for (size_t i = 0; i < data.size(); i += 1 << 20) blocks.push_back(data.substr(i, 1 << 20));
    std::mt19937 rng(3);
    std::shuffle(blocks.begin(), blocks.end(), rng);
    data.clear();
    for (auto& b : blocks) data += b;
  }
  auto mbps = [&](auto fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return static_cast<double>(data.size()) / s / 1e6;
  };
  struct B {
    std::string name;
    CompressorOptions opts;
  };
  std::vector<B> benches = {
      {"gzip isa-l 1", {Compression::kGzip, 1, GzipEngine::kIsal}},
      {"gzip isa-l 3", {Compression::kGzip, 3, GzipEngine::kIsal}},
      {"gzip zlib 6", {Compression::kGzip, 6, GzipEngine::kZlib}},
      {"zstd 3", {Compression::kZstd, 3, GzipEngine::kAuto}},
  };
  for (const auto& b : benches) {
    std::string z;
    double c = mbps([&] { z = *Compress(b.opts, data, 1 << 20); });
    std::printf("%-14s compress %7.1f MB/s  ratio %.3f\n", b.name.c_str(), c,
                static_cast<double>(z.size()) / static_cast<double>(data.size()));
    for (GzipEngine e : {GzipEngine::kIsal, GzipEngine::kZlib}) {
      double d = mbps([&] {
        StringByteSource in(z);
        auto src = NewDecompressor(b.opts.compression, &in, e);
        ASSERT_TRUE(src);
        std::vector<char> buf(1 << 20);
        uint64_t total = 0;
        for (;;) {
          auto got = (*src)->Read(buf.data(), buf.size());
          ASSERT_TRUE(got) << got.error().message();
          if (*got == 0) break;
          total += *got;
        }
        ASSERT_EQ(total, data.size());
      });
      std::printf("%-14s decompress (%s) %7.1f MB/s\n", b.name.c_str(),
                  b.opts.compression != Compression::kGzip ? "zstd"
                  : e == GzipEngine::kIsal                 ? "isa-l"
                                                           : "zlib",
                  d);
      if (b.opts.compression != Compression::kGzip) break;
    }
  }
}

}  // namespace
}  // namespace hoist::archive
