#include "base/testing/fault_file_system.h"

#include <utility>

namespace hoist {
namespace {

// Wraps a writable file so that Append, Sync and Close are numbered and can fail.
class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectingFileSystem* fs, std::unique_ptr<WritableFile> base,
                    std::string path)
      : fs_(fs), base_(std::move(base)), path_(std::move(path)) {}

  Status Append(std::string_view data) override {
    HOIST_TRY(fs_->BeforeMutation("append", path_));
    return base_->Append(data);
  }
  // Not a mutation of its own: what it writes was counted when appended.
  Status Flush() override { return base_->Flush(); }
  Status Sync() override {
    HOIST_TRY(fs_->BeforeMutation("sync", path_));
    return base_->Sync();
  }
  // An injected failure leaves the descriptor to the wrapped file's destructor, as the kernel
  // closes a dead process's descriptors.
  Status Close() override {
    HOIST_TRY(fs_->BeforeMutation("close", path_));
    return base_->Close();
  }

 private:
  FaultInjectingFileSystem* fs_;
  std::unique_ptr<WritableFile> base_;
  std::string path_;
};

}  // namespace

FaultInjectingFileSystem::FaultInjectingFileSystem(FileSystem* base) : base_(base) {}
FaultInjectingFileSystem::~FaultInjectingFileSystem() = default;

std::vector<std::string> FaultInjectingFileSystem::op_log() const {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

void FaultInjectingFileSystem::ResetCount() {
  std::lock_guard<std::mutex> l(mu_);
  count_.store(0);
  log_.clear();
}

void FaultInjectingFileSystem::FailAt(int64_t n, FaultKind kind) {
  std::lock_guard<std::mutex> l(mu_);
  fail_at_ = n;
  fail_kind_ = kind;
}

void FaultInjectingFileSystem::CrashAt(int64_t n) {
  std::lock_guard<std::mutex> l(mu_);
  crash_at_ = n;
}

void FaultInjectingFileSystem::ClearFaults() {
  std::lock_guard<std::mutex> l(mu_);
  fail_at_ = -1;
  crash_at_ = -1;
  crashed_ = false;
}

bool FaultInjectingFileSystem::crashed() const {
  std::lock_guard<std::mutex> l(mu_);
  return crashed_;
}

Status FaultInjectingFileSystem::BeforeMutation(std::string_view op, const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  int64_t n = count_.fetch_add(1);
  std::string entry = std::to_string(n) + " " + std::string(op) + " " + path;
  if (crash_at_ >= 0 && n >= crash_at_) crashed_ = true;
  if (crashed_) {
    log_.push_back(entry + " [crashed]");
    return MakeError(Code::kAborted,
                     "injected crash: " + std::string(op) + " " + path + ": process is dead");
  }
  if (n == fail_at_) {
    log_.push_back(entry + " [failed]");
    fail_at_ = -1;
    if (fail_kind_ == FaultKind::kNoSpace) {
      return MakeError(Code::kResourceExhausted, "injected fault: " + std::string(op) + " " + path +
                                                     ": No space left on device");
    }
    return MakeError(Code::kDataLoss,
                     "injected fault: " + std::string(op) + " " + path + ": Input/output error");
  }
  log_.push_back(std::move(entry));
  return {};
}

Result<std::unique_ptr<ReadableFile>> FaultInjectingFileSystem::OpenForRead(
    const std::string& path) {
  return base_->OpenForRead(path);
}

Result<std::unique_ptr<WritableFile>> FaultInjectingFileSystem::CreateFile(const std::string& path,
                                                                           bool exclusive,
                                                                           uint32_t mode) {
  HOIST_TRY(BeforeMutation("create", path));
  HOIST_ASSIGN_OR_RETURN(auto file, base_->CreateFile(path, exclusive, mode));
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, std::move(file), path));
}

Status FaultInjectingFileSystem::Rename(const std::string& from, const std::string& to) {
  HOIST_TRY(BeforeMutation("rename", from + " -> " + to));
  return base_->Rename(from, to);
}

Status FaultInjectingFileSystem::Remove(const std::string& path) {
  HOIST_TRY(BeforeMutation("remove", path));
  return base_->Remove(path);
}

Status FaultInjectingFileSystem::MakeDirs(const std::string& path, uint32_t mode) {
  HOIST_TRY(BeforeMutation("mkdir", path));
  return base_->MakeDirs(path, mode);
}

Result<std::optional<FileInfo>> FaultInjectingFileSystem::Stat(const std::string& path) {
  return base_->Stat(path);
}

Result<std::vector<std::string>> FaultInjectingFileSystem::ListDir(const std::string& path) {
  return base_->ListDir(path);
}

Status FaultInjectingFileSystem::SyncDir(const std::string& path) {
  HOIST_TRY(BeforeMutation("syncdir", path));
  return base_->SyncDir(path);
}

Status FaultInjectingFileSystem::Link(const std::string& from, const std::string& to) {
  HOIST_TRY(BeforeMutation("link", from + " -> " + to));
  return base_->Link(from, to);
}

Status FaultInjectingFileSystem::SyncFile(const std::string& path) {
  HOIST_TRY(BeforeMutation("syncfile", path));
  return base_->SyncFile(path);
}

Result<std::unique_ptr<FileLock>> FaultInjectingFileSystem::Lock(const std::string& path,
                                                                 bool remove_on_release) {
  return base_->Lock(path, remove_on_release);
}

}  // namespace hoist
