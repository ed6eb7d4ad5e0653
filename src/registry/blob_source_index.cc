// NewDirBlobSourceIndex: which repositories of a host hold a blob (client.h). One file per
// digest, `<dir>/<alg>/<encoded>`, one `host/repository` per line, newest last, at most 16
// lines. Files are replaced atomically; a torn or unreadable file is treated as empty, since
// the index only saves uploads and is never needed for correctness.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

#include "base/atomic_file.h"
#include "base/file_system.h"
#include "registry/client.h"

namespace hoist::registry {
namespace {

constexpr size_t kMaxEntries = 16;

class DirBlobSourceIndex final : public BlobSourceIndex {
 public:
  explicit DirBlobSourceIndex(std::string dir) : dir_(std::move(dir)) {}

  void Record(const oci::Digest& digest, std::string_view host,
              std::string_view repository) override {
    if (!digest.valid()) return;
    const std::string entry = std::string(host) + "/" + std::string(repository);
    std::lock_guard lock(mu_);
    std::vector<std::string> lines = Read(digest);
    if (!lines.empty() && lines.back() == entry) return;
    lines.erase(std::remove(lines.begin(), lines.end(), entry), lines.end());
    lines.push_back(entry);
    if (lines.size() > kMaxEntries) lines.erase(lines.begin(), lines.end() - kMaxEntries);
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    const std::string sub = dir_ + "/" + std::string(digest.algorithm());
    if (!PosixFileSystem()->MakeDirs(sub, 0700)) return;
    (void)WriteFileAtomic(PosixFileSystem(), Path(digest), text);
  }

  std::vector<std::string> Lookup(const oci::Digest& digest, std::string_view host) override {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    const std::string prefix = std::string(host) + "/";
    std::vector<std::string> lines = Read(digest);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      if (it->starts_with(prefix) && it->size() > prefix.size()) {
        out.push_back(it->substr(prefix.size()));
      }
    }
    return out;
  }

 private:
  std::string Path(const oci::Digest& d) const {
    return dir_ + "/" + std::string(d.algorithm()) + "/" + std::string(d.encoded());
  }
  std::vector<std::string> Read(const oci::Digest& d) const {
    std::vector<std::string> lines;
    std::ifstream in(Path(d));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(line);
    }
    return lines;
  }

  std::string dir_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<BlobSourceIndex> NewDirBlobSourceIndex(std::string dir) {
  return std::make_unique<DirBlobSourceIndex>(std::move(dir));
}

}  // namespace hoist::registry
