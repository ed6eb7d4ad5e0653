// TarWriter: a streaming writer of POSIX tar archives (ustar headers, with PAX extended headers
// only where ustar cannot say something), the producer side of layer diffs.
//
// Output is deterministic: the same entries with the same options give the same bytes.
//  - atime and ctime are never written; uname/gname only with write_owner_names;
//  - device numbers only for character and block devices;
//  - mtime is whole seconds unless subsecond_mtime is set, and is clamped to
//    source_date_epoch when one is given (entries newer than it get exactly it);
//  - a PAX header is written only when needed: for a name that does not fit ustar's name and
//    prefix fields, a linkname over 100 bytes, uid/gid/size/mtime out of ustar's octal range
//    (or negative mtime), a sub-second mtime, or any xattr; its records are in byte order of
//    their keys (std::map), its own header is `PaxHeaders/<base name>` with mode 0644, owner
//    0:0 and mtime 0 (no pid or time in it, unlike GNU tar);
//  - directory names end with '/', others never do;
//  - xattrs become `SCHILY.xattr.<name>` records; values are arbitrary bytes.
// Device numbers too large for the 7-digit octal fields use GNU base-256, which GNU tar, Go
// and our TarReader read. Everything written reads back through TarReader field for field.
//
// Thread-safety: one thread at a time. The sink is not owned and must outlive the writer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "archive/compression.h"
#include "archive/tar_reader.h"
#include "base/error.h"

namespace hoist::archive {

struct TarWriterOptions {
  // Clamp: an mtime later than this (seconds since the epoch) is written as this.
  std::optional<int64_t> source_date_epoch;
  // Keep nanoseconds of mtimes (in a PAX record); otherwise they are truncated.
  bool subsecond_mtime = false;
  // Write TarEntry::uname/gname; otherwise the fields are left empty.
  bool write_owner_names = false;
};

class TarWriter {
 public:
  using Options = TarWriterOptions;

  explicit TarWriter(ByteSink* out, Options options = {}) : out_(out), options_(options) {}

  // Starts an entry. Used fields: name, linkname (links), type, mode (07777), uid, gid,
  // uname/gname (with write_owner_names), size (regular files only), mtime, devmajor/devminor
  // (devices only), xattrs. Others (typeflag, atime, ctime, pax_records, offsets) are ignored.
  // REQUIRES: the previous entry's body was written in full.
  // Errors (kInvalidArgument): empty name or NUL in a name, kOther type, negative ids or size,
  // an xattr name that is empty or holds '=' or NUL.
  Status WriteHeader(const TarEntry& entry);
  // Writes part of the current regular file's body; more than its size is kInvalidArgument.
  Status WriteData(std::string_view data);
  // Writes the end-of-archive marker (two zero blocks). REQUIRES: the last body is complete.
  Status Close();

  const Options& options() const { return options_; }
  // Bytes written to the sink so far.
  uint64_t bytes_written() const { return written_; }

 private:
  Status Emit(std::string_view data);
  Status FinishBody();

  ByteSink* out_;
  Options options_;
  uint64_t written_ = 0;
  uint64_t body_left_ = 0;
  uint64_t padding_ = 0;
  bool closed_ = false;
};

}  // namespace hoist::archive
