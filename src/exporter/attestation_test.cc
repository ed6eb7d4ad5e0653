#include "exporter/attestation.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "base/subprocess.h"
#include "base/temp_dir.h"
#include "base/testing/test_files.h"
#include "content/local_content_store.h"
#include "exporter/sbom.h"
#include "oci/manifest.h"
#include "oci/purl.h"

namespace hoist::exporter {
namespace {

using json = nlohmann::json;

std::string Blob(content::ContentStore& store, const oci::Descriptor& d) {
  auto b = content::ReadBlob(store, d);
  EXPECT_TRUE(b) << b.error().message();
  return b ? *b : "";
}

TEST(AttestationTest, ManifestFollowsBuildKitsStorageFormat) {
  auto dir = TempDir::Create("attestation-test-");
  ASSERT_TRUE(dir);
  auto store = content::LocalContentStore::Open(PosixFileSystem(), dir->path() + "/store");
  ASSERT_TRUE(store);
  const oci::Descriptor target{.media_type = "application/vnd.oci.image.manifest.v1+json",
                               .digest = *oci::Digest::Parse("sha256:" + std::string(64, 'a')),
                               .size = 10};
  Attestation prov{.predicate_type = std::string(kPredicateSLSAProvenance),
                   .predicate = R"({"buildType":"x"})"};
  auto stmt = InTotoStatement(prov, {{"pkg:docker/app@1?platform=linux%2Famd64", target.digest}});
  ASSERT_TRUE(stmt) << stmt.error().message();
  EXPECT_EQ(*stmt,
            R"({"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2",)"
            R"("subject":[{"name":"pkg:docker/app@1?platform=linux%2Famd64","digest":{"sha256":")" +
                std::string(64, 'a') + R"("}}],"predicate":{"buildType":"x"}})");
  // A predicate that is not a JSON object is refused, naming its type.
  auto bad = InTotoStatement({.predicate_type = "t", .predicate = "[1]"}, {});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message().find("attestation t"), std::string::npos);

  auto entry = WriteAttestationManifest(
      **store, target, {{std::string(kPredicateSLSAProvenance), *stmt}, {"https://spdx.dev/Document", "{}"}});
  ASSERT_TRUE(entry) << entry.error().message();
  EXPECT_TRUE(IsAttestationManifest(*entry));
  ASSERT_TRUE(entry->platform);
  EXPECT_EQ(entry->platform->os, "unknown");
  EXPECT_EQ(entry->platform->architecture, "unknown");
  EXPECT_EQ(entry->annotations.at("vnd.docker.reference.digest"), target.digest.str());
  EXPECT_EQ(entry->annotations.at("vnd.docker.reference.type"), "attestation-manifest");
  auto m = oci::ParseManifest(Blob(**store, *entry));
  ASSERT_TRUE(m) << m.error().message();
  ASSERT_EQ(m->layers.size(), 2u);
  EXPECT_EQ(m->layers[0].media_type, "application/vnd.in-toto+json");
  EXPECT_EQ(m->layers[0].annotations.at("in-toto.io/predicate-type"),
            "https://slsa.dev/provenance/v0.2");
  EXPECT_EQ(Blob(**store, m->layers[0]), *stmt);
  EXPECT_EQ(m->layers[1].annotations.at("in-toto.io/predicate-type"), "https://spdx.dev/Document");
  const json config = json::parse(Blob(**store, m->config));
  EXPECT_EQ(config["os"], "unknown");
  EXPECT_EQ(config["architecture"], "unknown");
  EXPECT_EQ(config["rootfs"]["diff_ids"],
            json::array({m->layers[0].digest.str(), m->layers[1].digest.str()}));
  EXPECT_FALSE(IsAttestationManifest(target));
}

TEST(PurlTest, ImagesAndPackages) {
  auto ref = [](const char* s) { return *oci::ParseNormalizedNamed(s); };
  const oci::Platform amd64{.os = "linux", .architecture = "amd64"};
  EXPECT_EQ(oci::ImagePURL(ref("alpine"), amd64).String(),
            "pkg:docker/alpine@latest?platform=linux%2Famd64");
  EXPECT_EQ(oci::ImagePURL(ref("example.com/org/app:1.2"), std::nullopt).String(),
            "pkg:docker/example.com/org/app@1.2");
  const std::string d = "sha256:" + std::string(64, 'b');
  EXPECT_EQ(oci::ImagePURL(ref(("busybox:1.36@" + d).c_str()),
                           oci::Platform{.os = "linux", .architecture = "arm", .variant = "v7"})
                .String(),
            "pkg:docker/busybox@1.36?digest=sha256%3A" + std::string(64, 'b') +
                "&platform=linux%2Farm%2Fv7");
  EXPECT_EQ(oci::ImagePURL(ref(("busybox@" + d).c_str()), std::nullopt).String(),
            "pkg:docker/busybox?digest=sha256%3A" + std::string(64, 'b'));
  oci::PackageURL deb{.type = "deb", .namespace_ = "debian", .name = "libc6",
                      .version = "1:2.36-9+deb12u4", .qualifiers = {{"arch", "amd64"}, {"distro", ""}}};
  EXPECT_EQ(deb.String(), "pkg:deb/debian/libc6@1:2.36-9+deb12u4?arch=amd64");
  EXPECT_EQ((oci::PackageURL{.type = "deb", .name = "libstdc++6", .version = "1 2", .qualifiers = {{"q", "a+b/c"}}}.String()),
            "pkg:deb/libstdc++6@1%202?q=a%2Bb%2Fc");
  EXPECT_EQ((oci::PackageURL{.type = "npm", .namespace_ = "@babel", .name = "core", .version = "7.0.0"}
                 .String()),
            "pkg:npm/%40babel/core@7.0.0");
}

class SbomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("sbom-test-");
    ASSERT_TRUE(dir);
    dir_ = std::move(*dir);
    root_ = dir_.path() + "/root";
  }
  void Write(const std::string& rel, const std::string& content) {
    const std::string path = root_ + "/" + rel;
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(path.substr(0, path.rfind('/')), 0755));
    std::ofstream(path) << content;
  }
  void Link(const std::string& target, const std::string& rel) {
    const std::string path = root_ + "/" + rel;
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(path.substr(0, path.rfind('/')), 0755));
    ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  }
  TempDir dir_;
  std::string root_;
};

// The dpkg database of this machine, with a removed package added: the scanner finds exactly
// what `dpkg-query -W` lists as installed.
TEST_F(SbomTest, DpkgPackagesAreWhatDpkgQueryListsAsInstalled) {
  std::ifstream host("/var/lib/dpkg/status");
  ASSERT_TRUE(host) << "this test reads this machine's dpkg database";
  std::stringstream status;
  status << host.rdbuf();
  Write("var/lib/dpkg/status",
        status.str() +
            "\nPackage: gone-but-configured\nStatus: deinstall ok config-files\n"
            "Architecture: amd64\nVersion: 1.0-1\nDescription: removed, its conffiles kept\n\n");
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(root_ + "/var/lib/dpkg/updates", 0755));
  Write("usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\nVERSION_ID=\"12\"\n");
  Link("../usr/lib/os-release", "etc/os-release");
  auto q = RunSubprocess({.argv = {"/usr/bin/dpkg-query", "--admindir=" + root_ + "/var/lib/dpkg",
                                   "-W", "-f", "${db:Status-Status} ${Package} ${Version} ${Architecture}\\n"},
                          .max_output = 16 << 20});
  ASSERT_TRUE(q) << q.error().message();
  ASSERT_EQ(q->exit_code, 0) << q->err;
  std::set<std::string> want;
  std::istringstream lines(q->out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("installed ")) want.insert(line.substr(10));
  }
  ASSERT_GT(want.size(), 10u);
  auto found = ScanPackages(root_);
  ASSERT_TRUE(found) << found.error().message();
  std::set<std::string> got;
  for (const SbomPackage& p : *found) {
    ASSERT_EQ(p.type, "deb");
    got.insert(p.name + " " + p.version + " " + p.arch);
    EXPECT_EQ(p.location, "/var/lib/dpkg/status");
    EXPECT_TRUE(p.purl.starts_with("pkg:deb/debian/" + p.name + "@")) << p.purl;
    EXPECT_NE(p.purl.find("distro=debian-12"), std::string::npos) << p.purl;
  }
  EXPECT_EQ(got, want);
}

TEST_F(SbomTest, ApkLanguagePackagesLockfilesAndHostileTrees) {
  Write("etc/os-release", "ID=alpine\nVERSION_ID=3.18.4\n");
  Write("lib/apk/db/installed",
        "C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nm:Timo <t@example.org>\n\n"
        "P:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\n\nP:no-version\n\n");
  Write("app/node_modules/lodash/package.json",
        R"({"name":"lodash","version":"4.17.21","license":"MIT"})");
  Write("app/node_modules/@babel/core/package.json",
        R"({"name":"@babel/core","version":"7.23.0","license":{"type":"MIT"}})");
  Write("app/node_modules/broken/package.json", "{not json");
  Write("app/package-lock.json",
        R"({"lockfileVersion":3,"packages":{"":{"name":"app","version":"1.0.0"},)"
        R"("node_modules/lodash":{"version":"4.17.21"},"node_modules/ms":{"version":"2.1.3"},)"
        R"("node_modules/linked":{"link":true}}})");
  Write("usr/lib/python3/dist-packages/Requests_OAuth-1.3.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: Requests_OAuth\nVersion: 1.3.1\nLicense: ISC\n\nbody\nName: not-me\n");
  Write("opt/tool/Cargo.lock",
        "version = 3\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.190\"\n"
        "source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\n[metadata]\nname = \"x\"\n");
  Write("web/yarn.lock",
        "# yarn lockfile v1\n\n\"@types/node@^20\", \"@types/node@^20.1\":\n  version \"20.8.9\"\n"
        "  dependencies:\n    version-ish \"^1\"\n\nleft-pad@^1.3.0:\n  version \"1.3.0\"\n");
  Write("web2/yarn.lock",
        "__metadata:\n  version: 6\n\n\"chalk@npm:^5.3.0\":\n  version: 5.3.0\n"
        "  resolution: \"chalk@npm:5.3.0\"\n\n\"web2@workspace:.\":\n  version: 0.0.0-use.local\n");
  Write("rails/Gemfile.lock",
        "GIT\n  remote: https://example.com/x.git\n  specs:\n    from-git (0.1)\n\n"
        "GEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.15.4-x86_64-linux)\n"
        "      racc (~> 1.4)\n    racc (1.7.1)\n\nPLATFORMS\n  x86_64-linux\n");
  Write("php/composer.lock",
        R"({"packages":[{"name":"monolog/monolog","version":"3.5.0","license":["MIT"]},{"name":"x"}],)"
        R"("packages-dev":[{"name":"phpunit/phpunit","version":"10.4.2"}]})");
  // What the walk must not follow out of the tree: a symlinked node module reaching the host's
  // files, a symlink to the host's root, and a dpkg status that is a link out of the tree.
  Write("../outside/node_modules/stolen/package.json", R"({"name":"stolen","version":"6.6.6"})");
  Link(dir_.path() + "/outside/node_modules/stolen", "app/node_modules/stolen");
  Link(dir_.path() + "/outside", "escape");
  Write("../outside/status", "Package: host-only\nStatus: install ok installed\nVersion: 1\n");
  Link(dir_.path() + "/outside/status", "var/lib/dpkg/status");

  auto found = ScanPackages(root_);
  ASSERT_TRUE(found) << found.error().message();
  std::vector<std::string> purls;
  for (const SbomPackage& p : *found) purls.push_back(p.purl);
  EXPECT_EQ(purls, (std::vector<std::string>{
                       "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=alpine-3.18.4",
                       "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4",
                       "pkg:cargo/serde@1.0.190",
                       "pkg:composer/monolog/monolog@3.5.0",
                       "pkg:composer/phpunit/phpunit@10.4.2",
                       "pkg:gem/nokogiri@1.15.4-x86_64-linux",
                       "pkg:gem/racc@1.7.1",
                       "pkg:npm/%40babel/core@7.23.0",
                       "pkg:npm/%40types/node@20.8.9",
                       "pkg:npm/chalk@5.3.0",
                       "pkg:npm/left-pad@1.3.0",
                       "pkg:npm/lodash@4.17.21",
                       "pkg:npm/ms@2.1.3",
                       "pkg:pypi/requests-oauth@1.3.1",
                   }));
  for (const SbomPackage& p : *found) {
    if (p.name == "musl") {
      EXPECT_EQ(p.license, "MIT");
      EXPECT_EQ(p.supplier, "Timo <t@example.org>");
    }
    if (p.name == "lodash") {
      EXPECT_EQ(p.location, "/app/node_modules/lodash/package.json");
    }
    if (p.name == "ms") {
      EXPECT_EQ(p.location, "/app/package-lock.json");
    }
  }

  const std::string doc = SpdxDocument(*found, {.name = "app", .created = 1700000000});
  EXPECT_EQ(doc, SpdxDocument(*found, {.name = "app", .created = 1700000000}));
  const json j = json::parse(doc);
  EXPECT_EQ(j["spdxVersion"], "SPDX-2.3");
  EXPECT_EQ(j["dataLicense"], "CC0-1.0");
  EXPECT_EQ(j["creationInfo"]["created"], "2023-11-14T22:13:20Z");
  ASSERT_EQ(j["packages"].size(), found->size() + 1);
  EXPECT_EQ(j["packages"][0]["primaryPackagePurpose"], "CONTAINER");
  std::set<std::string> ids;
  for (const json& p : j["packages"]) {
    const std::string id = p["SPDXID"];
    EXPECT_TRUE(ids.insert(id).second) << id;
    for (char c : id) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') << id;
  }
  EXPECT_EQ(j["packages"][1]["externalRefs"][0]["referenceLocator"], purls[0]);
  EXPECT_EQ(j["relationships"].size(), found->size() + 1);
  EXPECT_EQ(j["relationships"][0]["relationshipType"], "DESCRIBES");
  EXPECT_NE(j["documentNamespace"], json::parse(SpdxDocument({}, {.name = "app", .created = 1}))["documentNamespace"]);
}

// A FIFO where a database or manifest should be is skipped, not waited on.
TEST_F(SbomTest, FifosAreNotWaitedOn) {
  for (const char* rel : {"etc/os-release", "var/lib/dpkg/status", "lib/apk/db/installed",
                          "app/node_modules/x/package.json", "src/Cargo.lock"}) {
    const std::string path = root_ + "/" + rel;
    ASSERT_TRUE(PosixFileSystem()->MakeDirs(path.substr(0, path.rfind('/')), 0755));
    ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0) << rel;
  }
  auto found = ScanPackages(root_);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_TRUE(found->empty());
}

TEST_F(SbomTest, AnEmptyTreeHasNoPackagesAndAMissingOneIsAnError) {
  ASSERT_TRUE(PosixFileSystem()->MakeDirs(root_, 0755));
  auto found = ScanPackages(root_);
  ASSERT_TRUE(found) << found.error().message();
  EXPECT_TRUE(found->empty());
  // Junk in a database costs only the junk.
  Write("var/lib/dpkg/status",
        "garbage without a colon\n\nPackage: ok\nStatus: install ok installed\nVersion: 1\n"
        " continuation: not a field\n\nPackage: no-version\nStatus: install ok installed\n\n"
        ":\n\x01\xff\n");
  found = ScanPackages(root_);
  ASSERT_TRUE(found) << found.error().message();
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].purl, "pkg:deb/debian/ok@1");
  // Bytes that are not UTF-8 reach the document as U+FFFD, never an exception.
  Write("var/lib/dpkg/status", "Package: bad\xff\nStatus: install ok installed\nVersion: 1\xc3\n");
  found = ScanPackages(root_);
  ASSERT_TRUE(found);
  ASSERT_EQ(found->size(), 1u);
  const json doc = json::parse(SpdxDocument(*found, {.name = "n\xfe", .created = 0}));
  EXPECT_EQ(doc["packages"][1]["name"], "bad\xef\xbf\xbd");
  EXPECT_EQ(doc["name"], "n\xef\xbf\xbd");
  auto missing = ScanPackages(root_ + "/nope");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message().find("sbom"), std::string::npos);
}

}  // namespace
}  // namespace hoist::exporter
