#include "source/checksum_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/atomic_file.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/unique_fd.h"

namespace hoist::source {

FileIdentity StatIdentity(const struct stat& st) {
  auto ns = [](const struct timespec& t) {
    return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
  };
  return FileIdentity{.ino = static_cast<uint64_t>(st.st_ino),
                      .size = static_cast<uint64_t>(st.st_size),
                      .mtime_ns = ns(st.st_mtim),
                      .ctime_ns = ns(st.st_ctim),
                      .mode = static_cast<uint32_t>(st.st_mode)};
}

namespace {

constexpr std::string_view kMagic("hoist.checksums\0", 16);
constexpr int64_t kNsPerDay = int64_t{86400} * 1000000000;

oci::Digest ToDigest(const std::array<unsigned char, 32>& b) {
  return oci::Digest::FromSha256Hex(ToHex(b.data(), b.size()));
}

bool FromDigest(const oci::Digest& d, std::array<unsigned char, 32>* out) {
  std::string_view hex = d.encoded();
  if (d.algorithm() != "sha256" || hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

// Little-endian encoding for the file format.
class Writer {
 public:
  void U32(uint32_t v) { Raw(v); }
  void U64(uint64_t v) { Raw(v); }
  void Str(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void Bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string& out() { return out_; }

 private:
  template <typename T>
  void Raw(T v) {
    unsigned char b[sizeof(T)];
    for (size_t i = 0; i < sizeof(T); ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    out_.append(reinterpret_cast<const char*>(b), sizeof(T));
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(uint32_t* v) { return Raw(v); }
  bool U64(uint64_t* v) { return Raw(v); }
  bool Str(std::string* s) {
    uint32_t n;
    if (!U32(&n) || n > in_.size()) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Bytes(void* p, size_t n) {
    if (n > in_.size()) return false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  template <typename T>
  bool Raw(T* v) {
    if (in_.size() < sizeof(T)) return false;
    T r = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      r |= static_cast<T>(static_cast<unsigned char>(in_[i])) << (8 * i);
    }
    in_.remove_prefix(sizeof(T));
    *v = r;
    return true;
  }
  std::string_view in_;
};

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// ---- ChecksumTable ----

const ChecksumTable::Entry* ChecksumTable::Lookup(std::string_view scope, std::string_view path,
                                                  const FileIdentity& identity, uint32_t day,
                                                  bool* touched) {
  *touched = false;
  auto s = scopes_.find(scope);
  if (s == scopes_.end()) return nullptr;
  auto e = s->second.find(std::string(path));
  if (e == s->second.end() || !(e->second.identity == identity)) return nullptr;
  if (e->second.last_used_day < day) {
    e->second.last_used_day = day;
    *touched = true;
  }
  return &e->second;
}

void ChecksumTable::Put(std::string_view scope, const CachedChecksum& c, uint32_t day) {
  Entry e{.identity = c.identity, .last_used_day = day};
  if (!FromDigest(c.digest, &e.sha256)) return;
  auto s = scopes_.find(scope);
  if (s == scopes_.end()) s = scopes_.emplace(std::string(scope), Scope{}).first;
  s->second.insert_or_assign(c.path, e);
}

size_t ChecksumTable::Prune(const std::function<bool(const std::string& scope)>& live,
                            uint32_t oldest_day, size_t max_entries) {
  size_t dropped = 0;
  for (auto s = scopes_.begin(); s != scopes_.end();) {
    if (live && !live(s->first)) {
      dropped += s->second.size();
      s = scopes_.erase(s);
      continue;
    }
    dropped += std::erase_if(s->second,
                             [&](const auto& kv) { return kv.second.last_used_day < oldest_day; });
    s = s->second.empty() ? scopes_.erase(s) : std::next(s);
  }
  size_t n = size();
  if (n > max_entries) {
    // The day from which entries stay: the newest days that fit.
    std::map<uint32_t, size_t> per_day;
    for (const auto& [_, scope] : scopes_) {
      for (const auto& [__, e] : scope) ++per_day[e.last_used_day];
    }
    size_t kept = 0;
    uint32_t keep_from = UINT32_MAX;
    for (auto it = per_day.rbegin(); it != per_day.rend() && kept + it->second <= max_entries;
         ++it) {
      kept += it->second;
      keep_from = it->first;
    }
    dropped += Prune({}, keep_from, SIZE_MAX);
  }
  return dropped;
}

size_t ChecksumTable::size() const {
  size_t n = 0;
  for (const auto& [_, s] : scopes_) n += s.size();
  return n;
}

// ---- InMemoryChecksumCache ----

std::optional<oci::Digest> InMemoryChecksumCache::Lookup(std::string_view scope,
                                                         std::string_view path,
                                                         const FileIdentity& identity) {
  std::lock_guard lock(mu_);
  ++lookups_;
  bool touched;
  const ChecksumTable::Entry* e = table_.Lookup(scope, path, identity, 0, &touched);
  if (e == nullptr) return std::nullopt;
  ++hits_;
  return ToDigest(e->sha256);
}

Status InMemoryChecksumCache::Commit(std::string_view scope, std::vector<CachedChecksum> entries) {
  std::lock_guard lock(mu_);
  if (!entries.empty()) ++commits_;
  for (const auto& c : entries) table_.Put(scope, c, 0);
  return OkStatus();
}

Status InMemoryChecksumCache::Prune(const std::function<bool(const std::string& scope)>& live) {
  std::lock_guard lock(mu_);
  table_.Prune(live, 0, SIZE_MAX);
  return OkStatus();
}

size_t InMemoryChecksumCache::entries() const {
  std::lock_guard lock(mu_);
  return table_.size();
}
size_t InMemoryChecksumCache::lookups() const {
  std::lock_guard lock(mu_);
  return lookups_;
}
size_t InMemoryChecksumCache::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}
size_t InMemoryChecksumCache::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

// ---- FileChecksumCache ----

std::unique_ptr<FileChecksumCache> FileChecksumCache::Open(FileSystem* fs, std::string path,
                                                           Options options) {
  std::unique_ptr<FileChecksumCache> c(
      new FileChecksumCache(fs, std::move(path), std::move(options)));
  c->Load();
  return c;
}

uint32_t FileChecksumCache::Today() const {
  const int64_t now = options_.now ? options_.now() : SystemNow();
  return now <= 0 ? 0 : static_cast<uint32_t>(now / kNsPerDay);
}

std::optional<FileChecksumCache::Stamp> FileChecksumCache::StampOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return Stamp{static_cast<uint64_t>(st.st_ino), static_cast<uint64_t>(st.st_size),
               static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

void FileChecksumCache::Load() {
  std::string why;
  if (!ReadInto(&table_, &why, &stamp_)) {
    if (!why.empty()) {
      HOIST_LOG(kWarning, "checksum cache {}: {}; starting afresh", path_, why);
      discarded_ = true;
    }
    table_ = ChecksumTable();
  }
  const uint32_t today = Today();
  const uint32_t oldest = today > options_.max_unused_days ? today - options_.max_unused_days : 0;
  // Dropped entries are left in the file until the next write.
  table_.Prune({}, oldest, options_.max_entries);
}

bool FileChecksumCache::ReadInto(ChecksumTable* table, std::string* why,
                                 std::optional<Stamp>* stamp) const {
  auto discard = [&](std::string_view reason) {
    *why = std::string(reason);
    return false;
  };
  auto file = fs_->OpenForRead(path_);
  if (!file) {
    if (file.error().code() != Code::kNotFound) return discard(file.error().message());
    return false;
  }
  *stamp = StampOf(path_);
  auto size = (*file)->Size();
  if (!size) return discard(size.error().message());
  std::string data(*size, '\0');
  for (size_t off = 0; off < data.size();) {
    auto n = (*file)->ReadAt(off, data.data() + off, data.size() - off);
    if (!n) return discard(n.error().message());
    if (*n == 0) return discard("shorter than its size");
    off += *n;
  }
  if (data.size() < kMagic.size() + 4 + 64 || std::string_view(data).substr(0, 16) != kMagic) {
    return discard("not a checksum cache");
  }
  std::string_view body = std::string_view(data).substr(0, data.size() - 64);
  if (Sha256Hex(body) != std::string_view(data).substr(body.size())) {
    return discard("damaged (its trailing digest does not match)");
  }
  Reader r(body.substr(kMagic.size()));
  uint32_t version = 0, scopes = 0;
  r.U32(&version);
  if (version != kFormatVersion) {
    return discard("format version " + std::to_string(version) + ", this hoist reads " +
                   std::to_string(kFormatVersion));
  }
  if (!r.U32(&scopes)) return discard("truncated");
  for (uint32_t i = 0; i < scopes; ++i) {
    std::string name;
    uint32_t count;
    if (!r.Str(&name) || !r.U32(&count)) return discard("truncated");
    ChecksumTable::Scope& scope = table->scopes()[name];
    for (uint32_t j = 0; j < count; ++j) {
      std::string p;
      ChecksumTable::Entry e;
      uint64_t mtime, ctime;
      if (!r.Str(&p) || !r.U64(&e.identity.ino) || !r.U64(&e.identity.size) || !r.U64(&mtime) ||
          !r.U64(&ctime) || !r.U32(&e.identity.mode) || !r.U32(&e.last_used_day) ||
          !r.Bytes(e.sha256.data(), e.sha256.size())) {
        return discard("truncated");
      }
      e.identity.mtime_ns = static_cast<int64_t>(mtime);
      e.identity.ctime_ns = static_cast<int64_t>(ctime);
      scope.insert_or_assign(std::move(p), e);
    }
  }
  if (!r.empty()) return discard("trailing bytes");
  return true;
}

Status FileChecksumCache::WriteLocked() {
  // Other processes on the root write this file too: under its lock, what they added since
  // this cache last read or wrote it is merged in, not lost.
  UniqueFd lock(::open((path_ + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (lock) {
    while (::flock(lock.get(), LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  std::optional<Stamp> now_stamp = StampOf(path_);
  if (now_stamp && now_stamp != stamp_) {
    ChecksumTable theirs;
    std::string why;
    if (ReadInto(&theirs, &why, &now_stamp)) {
      for (auto& [name, scope] : theirs.scopes()) {
        ChecksumTable::Scope& ours = table_.scopes()[name];
        for (auto& [rel, entry] : scope) ours.try_emplace(rel, entry);
      }
    }
  }
  const uint32_t today = Today();
  table_.Prune({}, today > options_.max_unused_days ? today - options_.max_unused_days : 0,
               options_.max_entries);
  Writer w;
  w.Bytes(kMagic.data(), kMagic.size());
  w.U32(kFormatVersion);
  w.U32(static_cast<uint32_t>(table_.scopes().size()));
  for (const auto& [name, scope] : table_.scopes()) {
    w.Str(name);
    w.U32(static_cast<uint32_t>(scope.size()));
    // In path order, so that equal caches are equal files.
    std::vector<const std::pair<const std::string, ChecksumTable::Entry>*> sorted;
    sorted.reserve(scope.size());
    for (const auto& kv : scope) sorted.push_back(&kv);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
    for (const auto* kv : sorted) {
      const ChecksumTable::Entry& e = kv->second;
      w.Str(kv->first);
      w.U64(e.identity.ino);
      w.U64(e.identity.size);
      w.U64(static_cast<uint64_t>(e.identity.mtime_ns));
      w.U64(static_cast<uint64_t>(e.identity.ctime_ns));
      w.U32(e.identity.mode);
      w.U32(e.last_used_day);
      w.Bytes(e.sha256.data(), e.sha256.size());
    }
  }
  const std::string trailer = Sha256Hex(w.out());
  w.Bytes(trailer.data(), trailer.size());
  HOIST_TRY(WriteFileAtomic(fs_, path_, w.out(), 0600).map_error([&](Error e) {
    return std::move(e).Wrap("checksum cache " + path_);
  }));
  stamp_ = StampOf(path_);
  dirty_ = false;
  return OkStatus();
}

std::optional<oci::Digest> FileChecksumCache::Lookup(std::string_view scope, std::string_view path,
                                                     const FileIdentity& identity) {
  const uint32_t today = Today();
  std::lock_guard lock(mu_);
  bool touched;
  const ChecksumTable::Entry* e = table_.Lookup(scope, path, identity, today, &touched);
  if (e == nullptr) return std::nullopt;
  dirty_ = dirty_ || touched;
  return ToDigest(e->sha256);
}

Status FileChecksumCache::Commit(std::string_view scope, std::vector<CachedChecksum> entries) {
  const uint32_t today = Today();
  std::lock_guard lock(mu_);
  for (const auto& c : entries) table_.Put(scope, c, today);
  dirty_ = dirty_ || !entries.empty();
  if (!dirty_) return OkStatus();
  return WriteLocked();
}

Status FileChecksumCache::Prune(const std::function<bool(const std::string& scope)>& live) {
  const uint32_t today = Today();
  std::lock_guard lock(mu_);
  const size_t dropped = table_.Prune(
      live, today > options_.max_unused_days ? today - options_.max_unused_days : 0,
      options_.max_entries);
  if (dropped == 0 && !dirty_ && !discarded_) return OkStatus();
  discarded_ = false;
  return WriteLocked();
}

size_t FileChecksumCache::entries() const {
  std::lock_guard lock(mu_);
  return table_.size();
}

}  // namespace hoist::source
