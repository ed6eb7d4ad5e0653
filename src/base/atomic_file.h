// AtomicFile: writes go to a temporary file beside the target; Commit() syncs it and renames it
// over the target, then syncs the directory. Without Commit() the destructor removes the
// temporary, so a reader sees either the old file or the complete new one, never a partial one.
// Move-only; one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "base/file_system.h"

namespace hoist {

class AtomicFile {
 public:
  static Result<AtomicFile> Create(FileSystem* fs, std::string path, uint32_t mode = 0644);
  ~AtomicFile();
  AtomicFile(AtomicFile&&) noexcept;
  AtomicFile& operator=(AtomicFile&&) noexcept;

  Status Append(std::string_view data);
  // Makes the content visible under the target path.
  Status Commit();

  const std::string& path() const { return path_; }

 private:
  AtomicFile(FileSystem* fs, std::string path, std::string temp, std::unique_ptr<WritableFile> f);
  void Discard();

  FileSystem* fs_ = nullptr;
  std::string path_;
  std::string temp_;
  std::unique_ptr<WritableFile> file_;
};

// Writes `content` to `path` atomically.
Status WriteFileAtomic(FileSystem* fs, const std::string& path, std::string_view content,
                       uint32_t mode = 0644);

}  // namespace hoist
