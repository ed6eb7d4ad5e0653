#include "base/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <random>

namespace hoist {
namespace {

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string TempName(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  auto slash = path.find_last_of('/');
  std::string dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + "." + base + ".tmp-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1)) + "-" + std::to_string(rng() % 1000000);
}

}  // namespace

Result<AtomicFile> AtomicFile::Create(FileSystem* fs, std::string path, uint32_t mode) {
  std::string temp = TempName(path);
  HOIST_ASSIGN_OR_RETURN(auto f, fs->CreateFile(temp, /*exclusive=*/true, mode));
  return AtomicFile(fs, std::move(path), std::move(temp), std::move(f));
}

AtomicFile::AtomicFile(FileSystem* fs, std::string path, std::string temp,
                       std::unique_ptr<WritableFile> f)
    : fs_(fs), path_(std::move(path)), temp_(std::move(temp)), file_(std::move(f)) {}

AtomicFile::~AtomicFile() { Discard(); }

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : fs_(o.fs_), path_(std::move(o.path_)), temp_(std::move(o.temp_)), file_(std::move(o.file_)) {
  o.temp_.clear();
}

AtomicFile& AtomicFile::operator=(AtomicFile&& o) noexcept {
  if (this != &o) {
    Discard();
    fs_ = o.fs_;
    path_ = std::move(o.path_);
    temp_ = std::move(o.temp_);
    file_ = std::move(o.file_);
    o.temp_.clear();
  }
  return *this;
}

void AtomicFile::Discard() {
  if (temp_.empty()) return;
  if (file_) (void)file_->Close();
  file_.reset();
  (void)fs_->Remove(temp_);
  temp_.clear();
}

Status AtomicFile::Append(std::string_view data) {
  if (!file_) return MakeError(Code::kFailedPrecondition, "write " + path_ + ": file is closed");
  return file_->Append(data);
}

Status AtomicFile::Commit() {
  if (!file_) return MakeError(Code::kFailedPrecondition, "commit " + path_ + ": file is closed");
  HOIST_TRY(file_->Sync());
  HOIST_TRY(file_->Close());
  file_.reset();
  HOIST_TRY(fs_->Rename(temp_, path_));
  temp_.clear();
  return fs_->SyncDir(DirName(path_));
}

Status WriteFileAtomic(FileSystem* fs, const std::string& path, std::string_view content,
                       uint32_t mode) {
  HOIST_ASSIGN_OR_RETURN(auto f, AtomicFile::Create(fs, path, mode));
  HOIST_TRY(f.Append(content));
  return f.Commit();
}

}  // namespace hoist
