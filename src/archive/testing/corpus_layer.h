// Layers of the layer-safety corpus (../shared/corpora/layer-safety/cases.json) as tar bytes:
// a case's layer is a list of entries in JSON ({"type", "name", "linkname", "mode", "content"}),
// with "{SANDBOX}" in names standing for the directory beside the root, and contents given as
// text, {"hex": ...} or "{RANDOM}". Test-only and header-only.
//
// Thread-safety: RandomText uses one shared generator; call from one thread.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <string_view>

#include "archive/testing/test_tar.h"
#include "base/testing/corpus.h"

namespace hoist::archive::testing {

// The corpus's apply cases; empty when the file is missing or malformed (LoadCorpusJson has
// reported it then).
inline const nlohmann::json& LayerSafetyApplyCases() {
  static const nlohmann::json cases = [] {
    const nlohmann::json& doc = LoadCorpusJson("layer-safety/cases.json");
    if (!doc.is_object()) return nlohmann::json::array();
    return doc.value("apply_cases", nlohmann::json::array());
  }();
  return cases;
}

inline std::string HexToBytes(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline std::string RandomText() {
  static std::mt19937_64 rng(std::random_device{}());
  return "random-" + std::to_string(rng());
}

inline std::string CorpusContent(const nlohmann::json& c) {
  if (c.is_null()) return "";
  if (c.is_object()) return HexToBytes(c.at("hex").get<std::string>());
  std::string s = c.get<std::string>();
  return s == "{RANDOM}" ? RandomText() : s;
}

inline std::string ReplaceAll(std::string s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

// The tar of one corpus layer, "{SANDBOX}" replaced by `sandbox`.
inline std::string CorpusLayerTar(const nlohmann::json& layer, std::string_view sandbox) {
  TestTar tar;
  for (const nlohmann::json& e : layer) {
    TestTarEntry t;
    t.name = ReplaceAll(e.at("name"), "{SANDBOX}", sandbox);
    t.linkname = ReplaceAll(e.value("linkname", ""), "{SANDBOX}", sandbox);
    t.mode = e.value("mode", 0644);
    std::string type = e.at("type");
    t.type = type == "dir"       ? '5'
             : type == "symlink" ? '2'
             : type == "link"    ? '1'
             : type == "fifo"    ? '6'
                                 : '0';
    if (t.type == '0') t.content = CorpusContent(e.value("content", nlohmann::json()));
    tar.Add(t);
  }
  return tar.Finish();
}

}  // namespace hoist::archive::testing
