#include "archive/tar_reader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

#include "archive/internal/tar_format.h"

namespace hoist::archive {
namespace {

using internal::BlockPadding;
using internal::Field;
using internal::kBlockSize;
using internal::kChksum;
using internal::kDevmajor;
using internal::kDevminor;
using internal::kGid;
using internal::kGname;
using internal::kLinkname;
using internal::kMagic;
using internal::kMode;
using internal::kMtime;
using internal::kName;
using internal::kSize;
using internal::kTypeflag;
using internal::kUid;
using internal::kUname;
using internal::kUstarMagic;
using internal::kUstarPrefix;
using internal::kVersion;

// PAX and GNU long-name bodies are read into memory; no real name or attribute set needs more.
constexpr uint64_t kMaxSpecialBodySize = 1 << 20;

// Fields that star and GNU headers put where ustar has its prefix (internal/tar_format.h has
// the ustar ones).
constexpr Field kStarPrefix{345, 131};
constexpr Field kStarAtime{476, 12};
constexpr Field kStarCtime{488, 12};
constexpr Field kStarTrailer{508, 4};
constexpr Field kGnuAtime{345, 12};
constexpr Field kGnuCtime{357, 12};
constexpr size_t kGnuSparseMap = 386;  // 4 entries of (offset 12, length 12)
constexpr size_t kGnuSparseEntries = 4;
constexpr size_t kGnuIsExtended = 482;
constexpr Field kGnuRealSize{483, 12};

enum class Format { kV7, kUstar, kStar, kGnu };

std::string_view Get(const char* block, Field f) {
  return std::string_view(block + f.offset, f.size);
}

// A fixed-size string field ends at its first NUL.
std::string ParseString(std::string_view field) {
  size_t nul = field.find('\0');
  return std::string(nul == std::string_view::npos ? field : field.substr(0, nul));
}

// Octal (space/NUL padded either side) or GNU base-256 (high bit of the first byte set; the
// 0x40 bit then gives the sign, two's complement). nullopt if malformed or out of range.
std::optional<int64_t> ParseNumeric(std::string_view field) {
  if (field.empty()) return int64_t{0};
  auto first = static_cast<unsigned char>(field[0]);
  if (first & 0x80) {
    bool negative = (first & 0x40) != 0;
    uint64_t x = 0;
    for (size_t i = 0; i < field.size(); ++i) {
      unsigned c = static_cast<unsigned char>(field[i]);
      if (negative) c = ~c & 0xff;
      if (i == 0) c &= 0x7f;
      if ((x >> 55) != 0) return std::nullopt;  // would not fit in 63 bits
      x = (x << 8) | c;
    }
    return negative ? -static_cast<int64_t>(x) - 1 : static_cast<int64_t>(x);
  }
  size_t b = field.find_first_not_of(std::string_view(" \0", 2));
  if (b == std::string_view::npos) return int64_t{0};
  size_t e = field.find_last_not_of(std::string_view(" \0", 2));
  std::string_view digits = field.substr(b, e - b + 1);
  int64_t x = 0;
  for (char c : digits) {
    if (c < '0' || c > '7') return std::nullopt;
    if (x > (std::numeric_limits<int64_t>::max() >> 3)) return std::nullopt;
    x = (x << 3) | (c - '0');
  }
  return x;
}

bool IsZeroBlock(const char* block) {
  return std::all_of(block, block + kBlockSize, [](char c) { return c == 0; });
}

bool IsAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
}

bool ChecksumOk(const char* block) {
  std::optional<int64_t> stored = ParseNumeric(Get(block, kChksum));
  if (!stored) return false;
  int64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kBlockSize; ++i) {
    bool in_chksum = i >= kChksum.offset && i < kChksum.offset + kChksum.size;
    char c = in_chksum ? ' ' : block[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  // Historic writers (old Sun tar among them) summed signed chars; accept either.
  return *stored == unsigned_sum || *stored == signed_sum;
}

Format DetectFormat(const char* block) {
  std::string_view magic = Get(block, kMagic);
  std::string_view version = Get(block, kVersion);
  // The ustar version field is not checked: some writers put " \0" there (as in go-archive's
  // "ustar/GNU conflict" test archive), and Go and Python read those as ustar.
  if (magic == kUstarMagic) {
    return Get(block, kStarTrailer) == std::string_view("tar\0", 4) ? Format::kStar
                                                                    : Format::kUstar;
  }
  if (magic == "ustar " && version == std::string_view(" \0", 2)) return Format::kGnu;
  return Format::kV7;
}

// "<digits>[.<digits>]" with an optional leading '-'; fractions beyond nanoseconds are dropped.
std::optional<TarTime> ParsePaxTime(std::string_view s) {
  bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty()) return std::nullopt;
  int64_t sec = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    if (sec > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
    sec = sec * 10 + (c - '0');
  }
  int32_t nsec = 0;
  for (size_t i = 0; i < frac.size(); ++i) {
    if (frac[i] < '0' || frac[i] > '9') return std::nullopt;
    if (i < 9) nsec = nsec * 10 + (frac[i] - '0');
  }
  for (size_t i = frac.size(); i < 9; ++i) nsec *= 10;
  TarTime t{sec, nsec};
  if (negative) {
    t.sec = -sec;
    if (nsec > 0) {
      t.sec -= 1;
      t.nsec = 1000000000 - nsec;
    }
  }
  return t;
}

std::optional<int64_t> ParseDecimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (x > (std::numeric_limits<int64_t>::max() - 9) / 10) return std::nullopt;
    x = x * 10 + (c - '0');
  }
  return x;
}

// A PAX extended header body: records "<len> <key>=<value>\n", len counting the whole record.
Result<std::map<std::string, std::string>> ParsePax(std::string_view body, uint64_t at) {
  std::map<std::string, std::string> records;
  auto bad = [at](std::string_view why) {
    return MakeError(Code::kDataLoss,
                     fmt::format("tar: invalid PAX header at offset {}: {}", at, why));
  };
  while (!body.empty()) {
    // Writers pad the body with NULs in some cases; nothing else may follow the last record.
    if (body.find_first_not_of('\0') == std::string_view::npos) break;
    size_t space = body.find(' ');
    if (space == std::string_view::npos || space == 0 || space > 20)
      return bad("bad record length");
    std::optional<int64_t> len = ParseDecimal(body.substr(0, space));
    if (!len || *len <= static_cast<int64_t>(space) + 1 ||
        static_cast<uint64_t>(*len) > body.size()) {
      return bad("bad record length");
    }
    std::string_view record = body.substr(space + 1, static_cast<size_t>(*len) - space - 1);
    body.remove_prefix(static_cast<size_t>(*len));
    if (record.back() != '\n') return bad("record does not end with a newline");
    record.remove_suffix(1);
    size_t eq = record.find('=');
    if (eq == std::string_view::npos || eq == 0) return bad("record without a key");
    std::string_view key = record.substr(0, eq);
    std::string_view value = record.substr(eq + 1);
    if (key.find('\0') != std::string_view::npos) return bad("NUL in a key");
    bool is_text = key == "path" || key == "linkpath" || key == "uname" || key == "gname";
    if (is_text && value.find('\0') != std::string_view::npos) {
      return bad(fmt::format("NUL in the value of \"{}\"", key));
    }
    records[std::string(key)] = std::string(value);
  }
  return records;
}

// Old GNU sparse files ('S') whose map has no holes store exactly the file's bytes, so they
// can be read as ordinary files. Returns false for real sparse files.
bool GnuSparseIsDense(const char* block, int64_t stored_size) {
  if (block[kGnuIsExtended] != 0) return false;  // more map entries follow in extra blocks
  std::optional<int64_t> real = ParseNumeric(Get(block, kGnuRealSize));
  if (!real || *real != stored_size) return false;
  int64_t next = 0;
  for (size_t i = 0; i < kGnuSparseEntries; ++i) {
    const char* e = block + kGnuSparseMap + i * 24;
    if (e[0] == 0) break;
    std::optional<int64_t> off = ParseNumeric(std::string_view(e, 12));
    std::optional<int64_t> len = ParseNumeric(std::string_view(e + 12, 12));
    if (!off || !len || *len < 0 || *off != next) return false;
    if (*len > std::numeric_limits<int64_t>::max() - next) return false;
    next += *len;
  }
  return next == stored_size;
}

}  // namespace

std::string_view TarEntryTypeName(TarEntryType type) {
  switch (type) {
    case TarEntryType::kRegular:
      return "regular file";
    case TarEntryType::kHardlink:
      return "hard link";
    case TarEntryType::kSymlink:
      return "symlink";
    case TarEntryType::kCharDevice:
      return "character device";
    case TarEntryType::kBlockDevice:
      return "block device";
    case TarEntryType::kDirectory:
      return "directory";
    case TarEntryType::kFifo:
      return "fifo";
    case TarEntryType::kOther:
      return "other";
  }
  return "other";
}

Error TarReader::Truncated() const {
  if (!current_name_.empty()) {
    return Error(Code::kDataLoss, fmt::format("tar: truncated entry \"{}\"", current_name_));
  }
  return Error(Code::kDataLoss,
               AfterPrevious(fmt::format("tar: truncated archive at offset {}", offset_)));
}

std::string TarReader::AfterPrevious(std::string message) const {
  if (!prev_name_.empty()) message += fmt::format(" (after entry \"{}\")", prev_name_);
  return message;
}

Status TarReader::SkipBytes(uint64_t n) {
  if (n == 0) return OkStatus();
  HOIST_ASSIGN_OR_RETURN(uint64_t skipped, source_->Skip(n));
  offset_ += skipped;
  if (skipped < n) return Unexpected(Truncated());
  return OkStatus();
}

// Reads one whole block; *eof is set (and nothing read) when the stream ends right here.
Status TarReader::ReadBlock(char* block, bool* eof) {
  size_t have = 0;
  *eof = false;
  while (have < kBlockSize) {
    HOIST_ASSIGN_OR_RETURN(size_t got, source_->Read(block + have, kBlockSize - have));
    if (got == 0) break;
    have += got;
  }
  uint64_t start = offset_;
  offset_ += have;
  if (have == 0) {
    *eof = true;
  } else if (have < kBlockSize) {
    if (!current_name_.empty()) return Unexpected(Truncated());
    return MakeError(Code::kDataLoss,
                     AfterPrevious(fmt::format("tar: truncated header at offset {}", start)));
  }
  return OkStatus();
}

// The body of a PAX or GNU long-name header, read whole with its padding.
Result<std::string> TarReader::ReadSpecialBody(uint64_t size, std::string_view what) {
  if (size > kMaxSpecialBodySize) {
    return MakeError(Code::kDataLoss, fmt::format("tar: {} at offset {} is too large ({} bytes)",
                                                  what, offset_ - kBlockSize, size));
  }
  std::string body(static_cast<size_t>(size), '\0');
  size_t have = 0;
  while (have < body.size()) {
    HOIST_ASSIGN_OR_RETURN(size_t got, source_->Read(body.data() + have, body.size() - have));
    if (got == 0) return Unexpected(Truncated());
    have += got;
    offset_ += got;
  }
  HOIST_TRY(SkipBytes(BlockPadding(size)));
  return body;
}

Result<std::optional<TarEntry>> TarReader::Next() {
  if (failed_) {
    return MakeError(Code::kFailedPrecondition, "tar: reader stopped at an earlier error");
  }
  if (done_) return std::optional<TarEntry>();
  auto result = NextEntry();
  if (!result) failed_ = true;
  return result;
}

Result<std::optional<TarEntry>> TarReader::NextEntry() {
  HOIST_TRY(SkipBytes(body_left_ + padding_left_));
  body_left_ = padding_left_ = 0;
  if (!current_name_.empty()) prev_name_ = std::move(current_name_);
  current_name_.clear();

  uint64_t entry_start = offset_;
  std::optional<std::map<std::string, std::string>> pax;
  std::optional<std::string> long_name;
  std::optional<std::string> long_link;
  bool pending = false;  // an extended header was read and waits for its entry
  char block[kBlockSize];

  for (;;) {
    const uint64_t header_at = offset_;
    bool eof = false;
    HOIST_TRY(ReadBlock(block, &eof));
    if (eof) {
      if (pending) return Unexpected(Truncated());
      if (options_.allow_missing_end_marker) {
        done_ = true;
        return std::optional<TarEntry>();
      }
      return MakeError(
          Code::kDataLoss,
          AfterPrevious(fmt::format("tar: truncated archive: no end-of-archive marker at offset {}",
                                    header_at)));
    }
    if (IsZeroBlock(block)) {
      if (pending) {
        return MakeError(Code::kDataLoss,
                         fmt::format("tar: extended header at offset {} is not followed by an "
                                     "entry",
                                     entry_start));
      }
      // The marker is two zero blocks; a stream that ends after the first is accepted, as Go
      // and GNU tar do. Anything but zeros in the second block is corruption.
      HOIST_TRY(ReadBlock(block, &eof));
      if (!eof && !IsZeroBlock(block)) {
        return MakeError(Code::kDataLoss,
                         fmt::format("tar: invalid header at offset {}: data after a zero block",
                                     header_at + kBlockSize));
      }
      done_ = true;
      return std::optional<TarEntry>();
    }
    if (!ChecksumOk(block)) {
      return MakeError(Code::kDataLoss,
                       fmt::format("tar: invalid header checksum at offset {}", header_at));
    }
    auto bad_field = [header_at](std::string_view field) {
      return MakeError(Code::kDataLoss, fmt::format("tar: invalid {} field in header at offset {}",
                                                    field, header_at));
    };
    std::optional<int64_t> raw_size = ParseNumeric(Get(block, kSize));
    if (!raw_size || *raw_size < 0) return bad_field("size");
    const char typeflag = block[kTypeflag];

    if (typeflag == 'x' || typeflag == 'g') {
      pending = true;
      HOIST_ASSIGN_OR_RETURN(std::string body,
                             ReadSpecialBody(static_cast<uint64_t>(*raw_size), "PAX header"));
      HOIST_ASSIGN_OR_RETURN(auto records, ParsePax(body, header_at));
      if (typeflag == 'g') {
        // Global headers apply to all later entries in POSIX, but neither Go's reader nor
        // containerd apply them; ignoring them keeps hoist's view of a layer the same.
        pending = pax.has_value() || long_name.has_value() || long_link.has_value();
        if (!pending) entry_start = offset_;
        continue;
      }
      if (auto it = records.find("path"); it != records.end() && !it->second.empty()) {
        current_name_ = it->second;
      }
      pax = std::move(records);
      continue;
    }
    if (typeflag == 'L' || typeflag == 'K') {
      pending = true;
      HOIST_ASSIGN_OR_RETURN(std::string body,
                             ReadSpecialBody(static_cast<uint64_t>(*raw_size), "GNU long name"));
      size_t end = body.find_last_not_of('\0');
      body.resize(end == std::string::npos ? 0 : end + 1);
      if (body.find('\0') != std::string::npos) {
        return MakeError(Code::kDataLoss,
                         fmt::format("tar: GNU long name at offset {} contains NUL", header_at));
      }
      if (typeflag == 'L') {
        current_name_ = body;
        long_name = std::move(body);
      } else {
        long_link = std::move(body);
      }
      continue;
    }

    // An entry header.
    TarEntry e;
    e.typeflag = typeflag;
    e.header_offset = entry_start;
    const Format format = DetectFormat(block);
    e.name = ParseString(Get(block, kName));
    e.linkname = ParseString(Get(block, kLinkname));
    std::optional<int64_t> mode = ParseNumeric(Get(block, kMode));
    if (!mode) return bad_field("mode");
    e.mode = static_cast<uint32_t>(*mode & 07777);
    std::optional<int64_t> uid = ParseNumeric(Get(block, kUid));
    std::optional<int64_t> gid = ParseNumeric(Get(block, kGid));
    std::optional<int64_t> mtime = ParseNumeric(Get(block, kMtime));
    if (!uid) return bad_field("uid");
    if (!gid) return bad_field("gid");
    if (!mtime) return bad_field("mtime");
    e.uid = *uid;
    e.gid = *gid;
    e.mtime = TarTime{*mtime, 0};

    std::string prefix;
    if (format != Format::kV7) {
      e.uname = ParseString(Get(block, kUname));
      e.gname = ParseString(Get(block, kGname));
    }
    if (format == Format::kUstar) {
      prefix = ParseString(Get(block, kUstarPrefix));
    } else if (format == Format::kStar) {
      prefix = ParseString(Get(block, kStarPrefix));
      // star's times are informational; unreadable ones are dropped rather than fatal.
      if (block[kStarAtime.offset] != 0) {
        if (auto t = ParseNumeric(Get(block, kStarAtime))) e.atime = TarTime{*t, 0};
      }
      if (block[kStarCtime.offset] != 0) {
        if (auto t = ParseNumeric(Get(block, kStarCtime))) e.ctime = TarTime{*t, 0};
      }
    } else if (format == Format::kGnu) {
      bool times_ok = true;
      if (block[kGnuAtime.offset] != 0) {
        auto t = ParseNumeric(Get(block, kGnuAtime));
        times_ok = times_ok && t.has_value();
        if (t) e.atime = TarTime{*t, 0};
      }
      if (block[kGnuCtime.offset] != 0) {
        auto t = ParseNumeric(Get(block, kGnuCtime));
        times_ok = times_ok && t.has_value();
        if (t) e.ctime = TarTime{*t, 0};
      }
      if (!times_ok) {
        // Go before 1.8 wrote GNU headers with a ustar prefix where atime/ctime belong. Read
        // such a field as the prefix when it is text, as Go and containerd still do.
        e.atime.reset();
        e.ctime.reset();
        std::string p = ParseString(Get(block, kUstarPrefix));
        if (IsAscii(p)) prefix = std::move(p);
      }
    }
    if (!prefix.empty()) e.name = prefix + "/" + e.name;

    switch (typeflag) {
      case '0':
      case '7':
        e.type = TarEntryType::kRegular;
        break;
      case '\0':
        e.type = !e.name.empty() && e.name.back() == '/' ? TarEntryType::kDirectory
                                                         : TarEntryType::kRegular;
        break;
      case '1':
        e.type = TarEntryType::kHardlink;
        break;
      case '2':
        e.type = TarEntryType::kSymlink;
        break;
      case '3':
        e.type = TarEntryType::kCharDevice;
        break;
      case '4':
        e.type = TarEntryType::kBlockDevice;
        break;
      case '5':
        e.type = TarEntryType::kDirectory;
        break;
      case '6':
        e.type = TarEntryType::kFifo;
        break;
      default:
        e.type = TarEntryType::kOther;
        break;
    }
    if (format != Format::kV7 &&
        (e.type == TarEntryType::kCharDevice || e.type == TarEntryType::kBlockDevice)) {
      std::optional<int64_t> major = ParseNumeric(Get(block, kDevmajor));
      std::optional<int64_t> minor = ParseNumeric(Get(block, kDevminor));
      if (!major || *major < 0) return bad_field("devmajor");
      if (!minor || *minor < 0) return bad_field("devminor");
      e.devmajor = *major;
      e.devminor = *minor;
    }
    e.size = *raw_size;

    bool sparse = false;
    if (pax) {
      for (const auto& [key, value] : *pax) {
        if (key.starts_with("SCHILY.xattr.")) {
          if (key.size() > 13) e.xattrs[key.substr(13)] = value;
          continue;
        }
        if (key.starts_with("GNU.sparse.")) sparse = true;
        // POSIX: an empty value removes the keyword, leaving the header field in force.
        if (value.empty()) continue;
        // Captured by name: clang before 16 cannot capture structured bindings.
        auto bad_record = [&, &key = key]() {
          return MakeError(
              Code::kDataLoss,
              fmt::format("tar: invalid PAX record \"{}\" for entry \"{}\"", key, e.name));
        };
        if (key == "path") {
          e.name = value;
        } else if (key == "linkpath") {
          e.linkname = value;
        } else if (key == "uname") {
          e.uname = value;
        } else if (key == "gname") {
          e.gname = value;
        } else if (key == "size" || key == "uid" || key == "gid") {
          std::optional<int64_t> v = ParseDecimal(value);
          if (!v) return bad_record();
          (key == "size" ? e.size : key == "uid" ? e.uid : e.gid) = *v;
        } else if (key == "mtime" || key == "atime" || key == "ctime") {
          std::optional<TarTime> t = ParsePaxTime(value);
          if (!t) return bad_record();
          if (key == "mtime")
            e.mtime = *t;
          else if (key == "atime")
            e.atime = *t;
          else
            e.ctime = *t;
        }
      }
      e.pax_records = std::move(*pax);
    }
    if (long_name) e.name = std::move(*long_name);
    if (long_link) e.linkname = std::move(*long_link);
    current_name_ = e.name;

    if (typeflag == 'S') {
      if (!GnuSparseIsDense(block, e.size)) sparse = true;
      e.type = TarEntryType::kRegular;
    }
    if (sparse) {
      return MakeError(Code::kUnimplemented,
                       fmt::format("tar: sparse file \"{}\" is not supported", e.name));
    }
    switch (e.type) {
      case TarEntryType::kHardlink:
      case TarEntryType::kSymlink:
      case TarEntryType::kCharDevice:
      case TarEntryType::kBlockDevice:
      case TarEntryType::kDirectory:
      case TarEntryType::kFifo:
        e.size = 0;
        break;
      default:
        break;
    }
    // The body and its padding must stay addressable: offset + size + padding < 2^64.
    const uint64_t size = static_cast<uint64_t>(e.size);
    if (size > std::numeric_limits<uint64_t>::max() - offset_ - kBlockSize) {
      return bad_field("size");
    }
    e.data_offset = offset_;
    body_left_ = size;
    padding_left_ = BlockPadding(size);
    return std::optional<TarEntry>(std::move(e));
  }
}

Result<size_t> TarReader::Read(void* buf, size_t n) {
  if (failed_) {
    return MakeError(Code::kFailedPrecondition, "tar: reader stopped at an earlier error");
  }
  if (body_left_ == 0 || n == 0) return size_t{0};
  n = static_cast<size_t>(std::min<uint64_t>(n, body_left_));
  auto got = source_->Read(buf, n);
  if (!got) {
    failed_ = true;
    return got;
  }
  if (*got == 0) {
    failed_ = true;
    return Unexpected(Truncated());
  }
  offset_ += *got;
  body_left_ -= *got;
  return got;
}

Result<std::string> TarReader::ReadBody(uint64_t max_size) {
  if (body_left_ > max_size) {
    return MakeError(Code::kResourceExhausted,
                     fmt::format("tar: entry \"{}\" is {} bytes, limit {}", current_name_,
                                 body_left_, max_size));
  }
  std::string out(static_cast<size_t>(body_left_), '\0');
  size_t have = 0;
  while (have < out.size()) {
    HOIST_ASSIGN_OR_RETURN(size_t got, Read(out.data() + have, out.size() - have));
    have += got;
  }
  return out;
}

}  // namespace hoist::archive
