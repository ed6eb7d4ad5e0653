// BlobByteSource: a stored blob read front to back as an archive::ByteSource, for the readers
// that stream a blob (decompressing, untarring) through its random-access BlobReader.
//
// Thread-safety: one reader at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>

#include "archive/byte_source.h"
#include "content/content_store.h"

namespace hoist::content {

class BlobByteSource final : public archive::ByteSource {
 public:
  explicit BlobByteSource(std::unique_ptr<BlobReader> reader) : reader_(std::move(reader)) {}
  Result<size_t> Read(void* buf, size_t n) override {
    HOIST_ASSIGN_OR_RETURN(size_t got, reader_->ReadAt(offset_, buf, n));
    offset_ += static_cast<int64_t>(got);
    return got;
  }

 private:
  std::unique_ptr<BlobReader> reader_;
  int64_t offset_ = 0;
};

}  // namespace hoist::content
