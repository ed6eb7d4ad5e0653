// TarReader: a streaming reader of tar archives, the base of everything hoist does with layers
// and OCI layout tarballs.
//
// Formats read: V7, POSIX ustar (with the `prefix` field), star, POSIX.1-2001 PAX (local
// extended headers; global ones are consumed and ignored), GNU (long names `L` and long links
// `K`, base-256 numeric fields, atime/ctime fields). Go archive/tar and containerd are the
// reference for how odd archives are interpreted:
//  - a checksum is accepted if it matches the unsigned or the signed byte sum;
//  - a GNU header whose atime/ctime fields do not parse, but hold ASCII text, was written by
//    pre-1.8 Go with the name's head in a ustar-style prefix there: it is read as the prefix;
//  - type '\0' with a name ending in '/' is a directory (old archives);
//  - header-only types (links, devices, directories, FIFOs) have no body, whatever the size;
//  - PAX values override header fields; GNU long names override both;
//  - an empty PAX value means "use the header field" (POSIX);
//  - old GNU sparse files are read only when their map has no holes (they are then ordinary
//    files); other sparse files are kUnimplemented.
// Malformed archives are kDataLoss: `tar: invalid header checksum at offset N`,
// `tar: truncated entry "NAME"`. The archive must end with the end-of-archive marker (one or
// two zero blocks, the second may be missing at the very end of the stream, as Go and GNU tar
// accept); a stream that stops before it was cut short and is kDataLoss too.
//
// Every size and offset is checked for overflow; PAX and GNU long-name bodies are limited to
// 1 MiB; names containing NUL are rejected.
//
// Thread-safety: a TarReader and its source are used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "archive/byte_source.h"
#include "base/error.h"

namespace hoist::archive {

enum class TarEntryType {
  kRegular,
  kHardlink,
  kSymlink,
  kCharDevice,
  kBlockDevice,
  kDirectory,
  kFifo,
  kOther,  // unknown or vendor type flags; the body (if any) is readable
};

std::string_view TarEntryTypeName(TarEntryType type);

// Seconds and nanoseconds since the epoch; nsec is in [0, 1e9) (negative times round down).
struct TarTime {
  int64_t sec = 0;
  int32_t nsec = 0;
  friend bool operator==(const TarTime&, const TarTime&) = default;
};

struct TarEntry {
  std::string name;      // as in the archive (prefix/long name/PAX path applied)
  std::string linkname;  // target of hard and symbolic links
  TarEntryType type = TarEntryType::kOther;
  char typeflag = 0;  // the raw type flag, e.g. '0', '5', 'D'
  uint32_t mode = 0;  // permission and set-id/sticky bits (07777)
  int64_t uid = 0;
  int64_t gid = 0;
  std::string uname;
  std::string gname;
  int64_t size = 0;  // body length; 0 for header-only types
  TarTime mtime;
  std::optional<TarTime> atime;
  std::optional<TarTime> ctime;
  int64_t devmajor = 0;  // char and block devices only
  int64_t devminor = 0;
  // Extended attributes from PAX `SCHILY.xattr.<name>` records; values are raw bytes (e.g. the
  // binary `security.capability`).
  std::map<std::string, std::string> xattrs;
  // Every record of the entry's local PAX header, as written.
  std::map<std::string, std::string> pax_records;
  uint64_t header_offset = 0;  // where the entry's first header (PAX/GNU ones included) starts
  uint64_t data_offset = 0;    // where the body starts in the (uncompressed) archive
};

struct TarReaderOptions {
  // Accept a stream that ends right after a complete entry without the end-of-archive marker
  // (Go does; a truncated download looks exactly like that, so the default refuses).
  bool allow_missing_end_marker = false;
};

class TarReader {
 public:
  using Options = TarReaderOptions;

  // The source is not owned and must outlive the reader. Reading starts at the source's
  // current position, which counts as archive offset `base_offset`.
  explicit TarReader(ByteSource* source, Options options = {}, uint64_t base_offset = 0)
      : source_(source), options_(options), offset_(base_offset) {}

  // Advances to the next entry, skipping what is left of the current body (by Skip, so a
  // seekable source reads no bodies). nullopt at the end of the archive.
  Result<std::optional<TarEntry>> Next();

  // Reads from the current entry's body; 0 at its end. A body cut short is kDataLoss.
  Result<size_t> Read(void* buf, size_t n);
  // Reads the rest of the current body into memory; more than max_size bytes is
  // kResourceExhausted (nothing is read then).
  Result<std::string> ReadBody(uint64_t max_size);

  // Offset just after what has been consumed, in archive coordinates.
  uint64_t offset() const { return offset_; }

 private:
  Result<std::optional<TarEntry>> NextEntry();
  Status ReadBlock(char* block, bool* eof);
  Status SkipBytes(uint64_t n);
  Result<std::string> ReadSpecialBody(uint64_t size, std::string_view what);
  Error Truncated() const;
  std::string AfterPrevious(std::string message) const;

  ByteSource* source_;
  Options options_;
  uint64_t offset_;
  bool done_ = false;
  bool failed_ = false;
  // The current entry's body: bytes left, then zero padding to the next block.
  uint64_t body_left_ = 0;
  uint64_t padding_left_ = 0;
  // For error messages: the entry being read (once its name is known) and the one before.
  std::string current_name_;
  std::string prev_name_;
};

}  // namespace hoist::archive
