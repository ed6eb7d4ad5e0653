#include "snapshot/internal/metadata.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/atomic_file.h"
#include "base/file_system.h"

namespace hoist::snapshot::internal {
namespace {

using json = nlohmann::json;

Result<Kind> ParseKind(const std::string& s) {
  if (s == "committed") return Kind::kCommitted;
  if (s == "active") return Kind::kActive;
  if (s == "view") return Kind::kView;
  return MakeError(Code::kDataLoss, "unknown kind \"" + s + "\"");
}

// Every parent named is a committed snapshot.
Status CheckParents(const Metadata& m) {
  for (const auto& [key, r] : m.snapshots) {
    if (r.info.parent.empty()) continue;
    auto p = m.snapshots.find(r.info.parent);
    if (p == m.snapshots.end() || p->second.info.kind != Kind::kCommitted) {
      return MakeError(Code::kDataLoss, "snapshot \"" + key + "\": parent \"" + r.info.parent +
                                            "\" is not a committed snapshot");
    }
  }
  return OkStatus();
}

// One snapshots[] entry; `where` names it in errors. Its id must be below `next_id`.
Result<Record> ParseRecord(const json& s, const std::string& where, uint64_t next_id) {
  if (!s.is_object() || !s.contains("key") || !s["key"].is_string() || !s.contains("id") ||
      !s["id"].is_number_unsigned() || !s.contains("kind") || !s["kind"].is_string()) {
    return MakeError(Code::kDataLoss, where + ": needs key, id and kind");
  }
  Record r;
  r.id = s["id"].get<uint64_t>();
  r.info.name = s["key"].get<std::string>();
  auto kind = ParseKind(s["kind"].get<std::string>());
  if (!kind) return Unexpected(std::move(kind).error().Wrap(where));
  r.info.kind = *kind;
  if (s.contains("parent")) {
    if (!s["parent"].is_string()) return MakeError(Code::kDataLoss, where + ": bad parent");
    r.info.parent = s["parent"].get<std::string>();
  }
  if (s.contains("labels")) {
    if (!s["labels"].is_object()) return MakeError(Code::kDataLoss, where + ": bad labels");
    for (const auto& [k, v] : s["labels"].items()) {
      if (!v.is_string()) return MakeError(Code::kDataLoss, where + ": bad label " + k);
      r.info.labels[k] = v.get<std::string>();
    }
  }
  if (s.contains("tree")) {
    const std::string tree = s["tree"].is_string() ? s["tree"].get<std::string>() : "";
    if (tree == "erofs" && r.info.kind == Kind::kCommitted) {
      r.tree = Tree::kErofs;
    } else if (tree == "memory" && r.info.kind == Kind::kActive) {
      r.tree = Tree::kMemory;
    } else {
      return MakeError(Code::kDataLoss, where +
                                            ": bad tree (only committed snapshots may be "
                                            "\"erofs\", only active ones \"memory\")");
    }
  }
  r.info.created_ns = s.value("created", int64_t{0});
  r.info.updated_ns = s.value("updated", int64_t{0});
  if (r.id == 0 || r.id >= next_id) {
    return MakeError(Code::kDataLoss, where + ": id " + std::to_string(r.id) + " is outside 1.." +
                                          std::to_string(next_id - 1));
  }
  return r;
}

Result<Metadata> ParseJson(const json& j, const std::string& driver) {
  if (!j.is_object()) return MakeError(Code::kDataLoss, "not a JSON object");
  if (j.value("format", "") != "hoist.snapshots") {
    return MakeError(Code::kFailedPrecondition, "not a hoist snapshot metadata file");
  }
  if (!j.contains("version") || !j["version"].is_number_integer()) {
    return MakeError(Code::kDataLoss, "field \"version\" is missing");
  }
  int version = j["version"].get<int>();
  if (version < 1 || version > kMetadataVersion) {
    return MakeError(Code::kFailedPrecondition,
                     "format version " + std::to_string(version) + " is not supported (this "
                     "hoist reads versions up to " + std::to_string(kMetadataVersion) + ")");
  }
  Metadata m;
  m.version = version;
  m.driver = j.value("driver", "");
  if (m.driver != driver) {
    return MakeError(Code::kFailedPrecondition,
                     "written by the " + m.driver + " snapshotter, opened as " + driver);
  }
  if (!j.contains("next_id") || !j["next_id"].is_number_unsigned()) {
    return MakeError(Code::kDataLoss, "field \"next_id\" is missing");
  }
  m.next_id = j["next_id"].get<uint64_t>();
  if (!j.contains("snapshots") || !j["snapshots"].is_array()) {
    return MakeError(Code::kDataLoss, "field \"snapshots\" is missing");
  }
  size_t i = 0;
  for (const auto& s : j["snapshots"]) {
    std::string where = "snapshots[" + std::to_string(i++) + "]";
    HOIST_ASSIGN_OR_RETURN(Record r, ParseRecord(s, where, m.next_id));
    std::string key = r.info.name;
    if (!m.snapshots.emplace(key, std::move(r)).second) {
      return MakeError(Code::kDataLoss, where + ": key \"" + key + "\" appears twice");
    }
  }
  HOIST_TRY(CheckParents(m));
  return m;
}

json RecordJson(const Record& r) {
  json s = {{"key", r.info.name},
            {"id", r.id},
            {"kind", std::string(KindName(r.info.kind))},
            {"labels", r.info.labels},
            {"created", r.info.created_ns},
            {"updated", r.info.updated_ns}};
  if (!r.info.parent.empty()) s["parent"] = r.info.parent;
  if (r.tree == Tree::kErofs) s["tree"] = "erofs";
  if (r.tree == Tree::kMemory) s["tree"] = "memory";
  return s;
}

}  // namespace

Result<Metadata> ParseMetadata(std::string_view text, const std::string& path,
                               const std::string& driver) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return MakeError(Code::kDataLoss, path + ": not valid JSON");
  auto m = ParseJson(j, driver);
  if (!m) return Unexpected(std::move(m).error().Wrap(path));
  return m;
}

std::string SerializeMetadata(const Metadata& m) {
  json snaps = json::array();
  for (const auto& [key, r] : m.snapshots) snaps.push_back(RecordJson(r));
  json j = {{"format", "hoist.snapshots"},
            {"version", kMetadataVersion},
            {"driver", m.driver},
            {"next_id", m.next_id},
            {"snapshots", std::move(snaps)}};
  return j.dump(1) + "\n";
}

Result<Metadata> LoadMetadata(const std::string& path, const std::string& driver) {
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(bool exists, fs->Exists(path));
  if (!exists) {
    Metadata m;
    m.driver = driver;
    return m;
  }
  HOIST_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(path, 256 << 20));
  return ParseMetadata(text, path, driver);
}

Status SaveMetadata(const std::string& path, const Metadata& metadata) {
  return WriteFileAtomic(PosixFileSystem(), path, SerializeMetadata(metadata), 0600);
}

std::string SerializeChange(const MetadataChange& change) {
  json put = json::array();
  for (const Record& r : change.put) put.push_back(RecordJson(r));
  json j = {{"del", change.removed}, {"put", std::move(put)}, {"next_id", change.next_id}};
  return j.dump() + "\n";
}

Result<size_t> ApplyJournal(std::string_view journal, const std::string& path, Metadata& metadata) {
  size_t done = 0;
  size_t line = 0;
  for (;;) {
    const size_t end = journal.find('\n', done);
    if (end == std::string_view::npos) break;  // the rest, if any, was cut short
    ++line;
    const std::string where = path + ": line " + std::to_string(line);
    json j = json::parse(journal.substr(done, end - done), nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("del") || !j["del"].is_array() || !j.contains("put") ||
        !j["put"].is_array() || !j.contains("next_id") || !j["next_id"].is_number_unsigned()) {
      return MakeError(Code::kDataLoss, where + ": not a change (del, put, next_id)");
    }
    // Lower than metadata.json's when the line is one it already holds (see metadata.h).
    const uint64_t next_id = j["next_id"].get<uint64_t>();
    for (const auto& key : j["del"]) {
      if (!key.is_string()) return MakeError(Code::kDataLoss, where + ": bad key in del");
      metadata.snapshots.erase(key.get<std::string>());
    }
    size_t i = 0;
    for (const auto& s : j["put"]) {
      HOIST_ASSIGN_OR_RETURN(Record r,
                             ParseRecord(s, where + ": put[" + std::to_string(i++) + "]", next_id));
      std::string key = r.info.name;
      metadata.snapshots.insert_or_assign(std::move(key), std::move(r));
    }
    metadata.next_id = std::max(metadata.next_id, next_id);
    done = end + 1;
  }
  if (auto st = CheckParents(metadata); !st) return Unexpected(std::move(st).error().Wrap(path));
  return done;
}

Result<Metadata> LoadCurrentMetadata(const std::string& dir, const std::string& driver) {
  HOIST_ASSIGN_OR_RETURN(Metadata m, LoadMetadata(dir + "/metadata.json", driver));
  const std::string journal = dir + "/metadata.journal";
  FileSystem* fs = PosixFileSystem();
  HOIST_ASSIGN_OR_RETURN(bool exists, fs->Exists(journal));
  if (!exists) return m;
  HOIST_ASSIGN_OR_RETURN(std::string text, fs->ReadFile(journal, 1 << 30));
  HOIST_TRY(ApplyJournal(text, journal, m));
  return m;
}

}  // namespace hoist::snapshot::internal
