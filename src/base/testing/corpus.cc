#include "base/testing/corpus.h"

#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

#ifndef HOIST_CORPORA_DIR
#error "HOIST_CORPORA_DIR must name the test corpora directory"
#endif

namespace hoist {
namespace {

using nlohmann::json;

// Stands in, as a registered test, for the tests a broken corpus file kept from being made.
class CorpusFileTest : public ::testing::Test {
 public:
  explicit CorpusFileTest(std::string problem) : problem_(std::move(problem)) {}
  void TestBody() override { FAIL() << problem_; }

 private:
  std::string problem_;
};

// A test name for `rel`: gtest filters treat '-', ':', '*', '?' and '.' specially.
std::string TestNameFor(std::string_view rel) {
  std::string name(rel);
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

std::mutex& Mutex() {
  static std::mutex mu;
  return mu;
}

// REQUIRES: Mutex() held.
void Report(const std::string& rel, const std::string& problem) {
  ::testing::UnitTest* unit = ::testing::UnitTest::GetInstance();
  if (unit->current_test_info() != nullptr || unit->current_test_suite() != nullptr) {
    ADD_FAILURE() << problem;
    return;
  }
  // Still registering tests: tests cannot fail yet, so add one that will.
  static std::set<std::string> registered;
  if (!registered.insert(rel).second) return;
  ::testing::RegisterTest("CorpusFile", TestNameFor(rel).c_str(), nullptr, nullptr, __FILE__,
                          __LINE__, [problem]() -> ::testing::Test* {
                            return new CorpusFileTest(problem);
                          });
}

// REQUIRES: Mutex() held.
const json& LoadLocked(const std::string& rel, std::string* problem) {
  static std::map<std::string, std::pair<json, std::string>, std::less<>> cache;
  auto it = cache.find(rel);
  if (it == cache.end()) {
    std::string path = CorpusPath(rel);
    json doc = json::value_t::discarded;
    std::string why;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      why = "corpus file " + path + " cannot be read (is HOIST_CORPORA_DIR right?)";
    } else {
      std::stringstream ss;
      ss << in.rdbuf();
      doc = json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
      if (doc.is_discarded()) why = "corpus file " + path + " is not valid JSON";
    }
    it = cache.emplace(rel, std::make_pair(std::move(doc), std::move(why))).first;
  }
  *problem = it->second.second;
  return it->second.first;
}

}  // namespace

std::string CorpusPath(std::string_view rel) {
  return std::string(HOIST_CORPORA_DIR) + "/" + std::string(rel);
}

const json& LoadCorpusJson(const std::string& rel) {
  std::lock_guard<std::mutex> lock(Mutex());
  std::string problem;
  const json& doc = LoadLocked(rel, &problem);
  if (!problem.empty()) Report(rel, problem);
  return doc;
}

std::vector<json> CorpusTableRows(const std::string& rel, std::string_view func, int index) {
  const json& doc = LoadCorpusJson(rel);
  if (doc.is_discarded()) return {};
  auto tables = doc.find("tables");
  if (tables == doc.end() || !tables->is_array()) {
    std::lock_guard<std::mutex> lock(Mutex());
    Report(rel, "corpus file " + CorpusPath(rel) + " has no \"tables\" array");
    return {};
  }
  for (const json& table : *tables) {
    auto name = table.find("func");
    if (name == table.end() || !name->is_string() ||
        name->get_ref<const std::string&>() != func) {
      continue;
    }
    if (index-- > 0) continue;
    auto value = table.find("value");
    if (value == table.end()) return {};
    if (value->is_object()) return {*value};
    if (value->is_array()) return value->get<std::vector<json>>();
    return {};
  }
  return {};
}

}  // namespace hoist
