// CopyLayer: a COPY's layer computed from its sources and its parent's metadata alone, written
// as a tar stream straight from the source files, without creating the files anywhere.
//
// The layer is the one a copy through an overlay mount (ApplyCopy into an empty upper dir over
// the parent) followed by WriteOverlayUpperDiff of that upper dir gives: the same entries, in
// the same order (depth first, siblings in byte order), with the same metadata. A COPY step
// whose snapshotter keeps layers as images (WritableDir::layer_image) feeds the stream to
// archive::WriteLayerErofs, so its image equals the one the overlay and the diff would have
// made, and so does every later export's diff of it.
//
// Planning proves the equivalence or declines; see the rules at the top of copy_layer.cc.
// Planning reads only metadata (and symlink targets); Stream() reads file contents as it goes
// and fails (kAborted) when a file vanished or changed since it was planned, and
// (kFailedPrecondition, declined()) when a file has extended attributes.
//
// Thread-safety: a CopyLayer is used by one thread at a time. The roots must stay mounted for
// its lifetime.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "archive/byte_source.h"
#include "archive/tar_reader.h"
#include "archive/tar_writer.h"
#include "base/cancel.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "oci/digest.h"
#include "solver/ops/file_actions.h"

namespace hoist::source {
class InPlaceContext;
}  // namespace hoist::source

namespace hoist::solver::ops {

struct CopyLayerOptions {
  // Checked between entries; not owned, may be null.
  CancelContext* cancel = nullptr;
  // The mtime (Unix nanoseconds) of the directories the copy writes into (the copy through an
  // overlay gives them the time of the write); < 0 for the clock at planning.
  int64_t now_ns = -1;
  // When the source is a client's context read in place (its root is `src_root`): the plan
  // checks every entry and directory listing it reads against the context's walk (declining on
  // a difference, so that the copy through the overlay reports it), and the write checks each
  // file against its pinned identity and digest, hashing what it copies (pinning it if it was
  // not yet): a file changed during the build fails the step. Not owned; may be null.
  source::InPlaceContext* in_place = nullptr;
};

class CopyLayer {
 public:
  // One entry of the layer. Regular files (not hardlinks) name their source: `source` indexes
  // the open source directories, `source_path` is below it (no symlinks on the way).
  struct Entry {
    archive::TarEntry header;
    int source = -1;
    std::string source_path;
    int64_t source_ino = 0;
    int64_t source_mtime_ns = 0;
    std::string context_path;  // with an in-place source: the file's path in the context
  };

  // Plans `action` copied from `src_root` onto the tree `parent_root` (the parent snapshot's
  // read-only view, or an empty directory). Returns null, with the reason in *why, whenever it
  // cannot prove the layer equals the copy's through an overlay; the caller then copies that
  // way (which also reports the errors of bad input).
  static std::unique_ptr<CopyLayer> Plan(const std::string& src_root,
                                         const std::string& parent_root,
                                         const CopyAction& action,
                                         const CopyLayerOptions& options, std::string* why);
  ~CopyLayer();

  const std::vector<Entry>& entries() const { return entries_; }
  // Whether a write failed because a source turned out to need the copy through the overlay
  // (a file with extended attributes); the failed write's output is then to be discarded.
  bool declined() const { return declined_; }

  // Writes the layer's entries, file bodies read from the sources; does not Close() the writer.
  Status Write(archive::TarWriter* out) const;
  // The layer as an uncompressed tar stream (TarWriter's default options, end marker
  // included), produced as it is read.
  std::unique_ptr<archive::ByteSource> Stream() const;

 private:
  friend class CopyLayerPlanner;
  friend class CopyLayerStream;
  CopyLayer() = default;

  Result<UniqueFd> OpenSource(const Entry& e) const;
  // With an in-place source: after a file's body was read (digest of what was read), checks it
  // against what the context pinned, or pins it.
  Status FinishSource(const Entry& e, int fd, const oci::Digest& digest) const;

  CancelContext* cancel_ = nullptr;
  source::InPlaceContext* in_place_ = nullptr;
  std::vector<UniqueFd> sources_;  // the parent directories of the copy's sources
  std::vector<Entry> entries_;
  mutable bool declined_ = false;
};

}  // namespace hoist::solver::ops
