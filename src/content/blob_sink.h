// BlobSink: a blob ingest as the sink of the archive writers (tar, compressors, layer writers),
// so a layer or archive streams straight into a content store.
//
// Ownership: the writer is not owned and must outlive the sink. Thread-safety: as the writer's.
#pragma once

#include <string_view>

#include "archive/compression.h"
#include "base/error.h"
#include "content/content_store.h"

namespace hoist::content {

class BlobSink final : public archive::ByteSink {
 public:
  explicit BlobSink(BlobWriter* w) : w_(w) {}
  Status Write(std::string_view data) override { return w_->Write(data); }

 private:
  BlobWriter* w_;
};

}  // namespace hoist::content
