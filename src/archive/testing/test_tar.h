// TestTar: builds small tar archives in memory for tests (ustar headers, with a PAX header when
// a name is long or the entry has xattrs, sub-second times or an atime). Test-only and
// header-only: it writes what tests need, without the care the production tar writer takes.
//
// Thread-safety: a builder is used by one thread at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace hoist::archive::testing {

struct TestTarEntry {
  std::string name;
  char type = '0';  // '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' FIFO
  uint32_t mode = 0644;
  int64_t uid = 0;
  int64_t gid = 0;
  std::string linkname;
  std::string content;
  int64_t mtime_sec = 0;
  int32_t mtime_nsec = 0;
  std::optional<std::pair<int64_t, int32_t>> atime;
  int64_t devmajor = 0;
  int64_t devminor = 0;
  std::map<std::string, std::string> xattrs;
};

class TestTar {
 public:
  TestTar& Add(const TestTarEntry& e) {
    std::string pax;
    if (e.name.size() > 99) AddRecord(&pax, "path", e.name);
    if (e.linkname.size() > 99) AddRecord(&pax, "linkpath", e.linkname);
    if (e.mtime_nsec != 0) AddRecord(&pax, "mtime", Time(e.mtime_sec, e.mtime_nsec));
    if (e.atime) AddRecord(&pax, "atime", Time(e.atime->first, e.atime->second));
    for (const auto& [k, v] : e.xattrs) AddRecord(&pax, "SCHILY.xattr." + k, v);
    if (!pax.empty()) {
      Header("PaxHeaders/x", 'x', 0644, 0, 0, "", pax.size(), 0, 0, 0);
      Body(pax);
    }
    bool has_body = e.type == '0' || e.type == '7';
    Header(e.name.substr(0, 99), e.type, e.mode, e.uid, e.gid, e.linkname.substr(0, 99),
           has_body ? e.content.size() : 0, e.mtime_sec, e.devmajor, e.devminor);
    if (has_body) Body(e.content);
    return *this;
  }
  TestTar& File(std::string name, std::string content, uint32_t mode = 0644) {
    TestTarEntry e;
    e.name = std::move(name);
    e.content = std::move(content);
    e.mode = mode;
    return Add(e);
  }
  TestTar& Dir(std::string name, uint32_t mode = 0755) {
    TestTarEntry e;
    e.name = std::move(name);
    e.type = '5';
    e.mode = mode;
    return Add(e);
  }
  TestTar& Symlink(std::string name, std::string target) {
    TestTarEntry e;
    e.name = std::move(name);
    e.type = '2';
    e.mode = 0777;
    e.linkname = std::move(target);
    return Add(e);
  }
  TestTar& Hardlink(std::string name, std::string target) {
    TestTarEntry e;
    e.name = std::move(name);
    e.type = '1';
    e.linkname = std::move(target);
    return Add(e);
  }
  // The archive with its end-of-archive marker.
  std::string Finish() const { return data_ + std::string(1024, '\0'); }

 private:
  static std::string Time(int64_t sec, int32_t nsec) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%lld.%09d", static_cast<long long>(sec), nsec);
    return buf;
  }
  static void AddRecord(std::string* pax, const std::string& key, const std::string& value) {
    size_t body = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
    size_t len = body + 1;
    while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
    *pax += std::to_string(len) + " " + key + "=" + value + "\n";
  }
  static void Octal(char* field, size_t width, uint64_t v) {
    // Digits right-aligned in width-1 bytes, then NUL; values that do not fit are truncated.
    std::string digits;
    for (; v != 0; v >>= 3) digits.insert(digits.begin(), static_cast<char>('0' + (v & 7)));
    if (digits.size() < width - 1) digits.insert(0, width - 1 - digits.size(), '0');
    std::memcpy(field, digits.data() + digits.size() - (width - 1), width - 1);
    field[width - 1] = '\0';
  }
  void Header(const std::string& name, char type, uint32_t mode, int64_t uid, int64_t gid,
              const std::string& linkname, uint64_t size, int64_t mtime, int64_t major,
              int64_t minor) {
    char h[512];
    std::memset(h, 0, sizeof(h));
    std::memcpy(h, name.data(), name.size());
    Octal(h + 100, 8, mode);
    Octal(h + 108, 8, static_cast<uint64_t>(uid));
    Octal(h + 116, 8, static_cast<uint64_t>(gid));
    Octal(h + 124, 12, size);
    Octal(h + 136, 12, static_cast<uint64_t>(mtime < 0 ? 0 : mtime));
    h[156] = type;
    std::memcpy(h + 157, linkname.data(), linkname.size());
    std::memcpy(h + 257, "ustar", 6);
    std::memcpy(h + 263, "00", 2);
    Octal(h + 329, 8, static_cast<uint64_t>(major));
    Octal(h + 337, 8, static_cast<uint64_t>(minor));
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    data_.append(h, sizeof(h));
  }
  void Body(const std::string& body) {
    data_ += body;
    data_.append((512 - body.size() % 512) % 512, '\0');
  }

  std::string data_;
};

}  // namespace hoist::archive::testing
