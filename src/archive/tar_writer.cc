#include "archive/tar_writer.h"

#include <fmt/format.h>

#include <array>
#include <cstring>
#include <map>

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
using internal::kUstarVersion;
using internal::kVersion;

using Block = std::array<char, kBlockSize>;

// The largest value an octal field of `size` bytes holds: size-1 digits and a NUL.
constexpr uint64_t OctalMax(Field f) { return (uint64_t{1} << (3 * (f.size - 1))) - 1; }

void PutString(Block& b, Field f, std::string_view s) {
  if (!s.empty()) std::memcpy(b.data() + f.offset, s.data(), std::min(s.size(), f.size));
}

// REQUIRES: v <= OctalMax(f).
void PutOctal(Block& b, Field f, uint64_t v) {
  char* p = b.data() + f.offset;
  p[f.size - 1] = '\0';
  for (size_t i = f.size - 1; i-- > 0;) {
    p[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
}

// GNU base-256: the high bit of the first byte set, the value big-endian in the rest.
void PutBase256(Block& b, Field f, uint64_t v) {
  char* p = b.data() + f.offset;
  for (size_t i = f.size; i-- > 1;) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  p[0] = static_cast<char>(0x80);
}

void PutChecksum(Block& b) {
  std::memset(b.data() + kChksum.offset, ' ', kChksum.size);
  uint64_t sum = 0;
  for (char c : b) sum += static_cast<unsigned char>(c);
  // Six octal digits, NUL, space: the historic layout every reader accepts.
  std::string s = fmt::format("{:06o}", sum);
  std::memcpy(b.data() + kChksum.offset, s.data(), 6);
  b[kChksum.offset + 6] = '\0';
  b[kChksum.offset + 7] = ' ';
}

void PutUstarMagic(Block& b) {
  PutString(b, kMagic, kUstarMagic);
  PutString(b, kVersion, kUstarVersion);
}

// Splits a name into ustar prefix and name fields, if it can be: the cut is at a '/', the
// prefix at most 155 bytes, the rest 1 to 100 bytes. The longest possible prefix is chosen so
// the result is a function of the name alone.
bool SplitUstarName(std::string_view name, std::string_view* prefix, std::string_view* rest) {
  if (name.size() <= kName.size) {
    *prefix = {};
    *rest = name;
    return true;
  }
  if (name.size() > kUstarPrefix.size + 1 + kName.size) return false;
  size_t start = std::min(kUstarPrefix.size, name.size() - 2);
  for (size_t i = start + 1; i-- > 1;) {
    if (name[i] != '/') continue;
    if (name.size() - i - 1 > kName.size) return false;  // shorter prefixes only get worse
    *prefix = name.substr(0, i);
    *rest = name.substr(i + 1);
    return true;
  }
  return false;
}

void AppendPaxRecord(std::string* out, std::string_view key, std::string_view value) {
  // "<len> <key>=<value>\n" where len counts the whole record, its own digits included.
  size_t rest = 1 + key.size() + 1 + value.size() + 1;
  size_t len = rest + 1;
  while (std::to_string(len).size() + rest != len) len = std::to_string(len).size() + rest;
  out->append(std::to_string(len));
  out->push_back(' ');
  out->append(key);
  out->push_back('=');
  out->append(value);
  out->push_back('\n');
}

std::string FormatPaxTime(TarTime t) {
  int64_t whole = t.sec;
  int64_t frac = t.nsec;
  std::string sign;
  if (t.sec < 0) {
    sign = "-";
    // TarTime keeps nsec non-negative: -1.5 s is {-2, 500000000}.
    if (frac > 0) {
      whole = -(t.sec + 1);
      frac = 1000000000 - frac;
    } else {
      whole = -t.sec;
    }
  }
  std::string s = sign + std::to_string(whole);
  if (frac > 0) {
    std::string digits = fmt::format("{:09d}", frac);
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    s += "." + digits;
  }
  return s;
}

char TypeFlag(TarEntryType t) {
  switch (t) {
    case TarEntryType::kRegular:
      return '0';
    case TarEntryType::kHardlink:
      return '1';
    case TarEntryType::kSymlink:
      return '2';
    case TarEntryType::kCharDevice:
      return '3';
    case TarEntryType::kBlockDevice:
      return '4';
    case TarEntryType::kDirectory:
      return '5';
    case TarEntryType::kFifo:
      return '6';
    case TarEntryType::kOther:
      break;
  }
  return 0;
}

}  // namespace

Status TarWriter::Emit(std::string_view data) {
  HOIST_TRY(out_->Write(data));
  written_ += data.size();
  return OkStatus();
}

Status TarWriter::WriteHeader(const TarEntry& in) {
  if (closed_) return MakeError(Code::kFailedPrecondition, "tar: write after close");
  if (body_left_ > 0) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("tar: previous entry is {} bytes short", body_left_));
  }
  auto invalid = [&](std::string_view why) {
    return MakeError(Code::kInvalidArgument, fmt::format("tar: entry \"{}\": {}", in.name, why));
  };
  const char typeflag = TypeFlag(in.type);
  if (typeflag == 0) return invalid("cannot write an entry of unknown type");
  std::string name = in.name;
  if (in.type == TarEntryType::kDirectory) {
    if (name.empty() || name.back() != '/') name.push_back('/');
  } else if (!name.empty() && name.back() == '/') {
    return invalid("only directory names may end with '/'");
  }
  if (name.empty() || name == "/") return invalid("empty name");
  if (name.find('\0') != std::string::npos) return invalid("NUL in the name");
  const bool is_link = in.type == TarEntryType::kHardlink || in.type == TarEntryType::kSymlink;
  const std::string_view linkname = is_link ? std::string_view(in.linkname) : std::string_view();
  if (linkname.find('\0') != std::string_view::npos) return invalid("NUL in the link target");
  if (is_link && linkname.empty()) return invalid("empty link target");
  if (in.uid < 0 || in.gid < 0) return invalid("negative uid or gid");
  const bool has_body = in.type == TarEntryType::kRegular;
  const int64_t size = has_body ? in.size : 0;
  if (size < 0) return invalid("negative size");
  const bool is_device =
      in.type == TarEntryType::kCharDevice || in.type == TarEntryType::kBlockDevice;
  if (is_device && (in.devmajor < 0 || in.devminor < 0)) return invalid("negative device number");

  TarTime mtime = in.mtime;
  if (!options_.subsecond_mtime) mtime.nsec = 0;
  if (options_.source_date_epoch &&
      (mtime.sec > *options_.source_date_epoch ||
       (mtime.sec == *options_.source_date_epoch && mtime.nsec > 0))) {
    mtime = TarTime{*options_.source_date_epoch, 0};
  }

  std::map<std::string, std::string> pax;
  Block h{};
  std::string_view prefix, rest;
  if (SplitUstarName(name, &prefix, &rest)) {
    PutString(h, kName, rest);
    PutString(h, kUstarPrefix, prefix);
  } else {
    pax["path"] = name;
    PutString(h, kName, std::string_view(name).substr(0, kName.size));
  }
  if (linkname.size() > kLinkname.size) {
    pax["linkpath"] = std::string(linkname);
  }
  PutString(h, kLinkname, linkname.substr(0, kLinkname.size));
  PutOctal(h, kMode, in.mode & 07777);
  auto put_id = [&](Field f, int64_t v, const char* key) {
    if (static_cast<uint64_t>(v) <= OctalMax(f)) {
      PutOctal(h, f, static_cast<uint64_t>(v));
    } else {
      pax[key] = std::to_string(v);
      PutOctal(h, f, 0);
    }
  };
  put_id(kUid, in.uid, "uid");
  put_id(kGid, in.gid, "gid");
  put_id(kSize, size, "size");
  if (mtime.sec >= 0 && static_cast<uint64_t>(mtime.sec) <= OctalMax(kMtime)) {
    PutOctal(h, kMtime, static_cast<uint64_t>(mtime.sec));
    if (mtime.nsec != 0) pax["mtime"] = FormatPaxTime(mtime);
  } else {
    PutOctal(h, kMtime, 0);
    pax["mtime"] = FormatPaxTime(mtime);
  }
  h[kTypeflag] = typeflag;
  PutUstarMagic(h);
  if (options_.write_owner_names) {
    if (in.uname.size() > kUname.size || in.uname.find('\0') != std::string::npos) {
      pax["uname"] = in.uname;
    } else {
      PutString(h, kUname, in.uname);
    }
    if (in.gname.size() > kGname.size || in.gname.find('\0') != std::string::npos) {
      pax["gname"] = in.gname;
    } else {
      PutString(h, kGname, in.gname);
    }
  }
  if (is_device) {
    for (auto [f, v] : {std::pair{kDevmajor, in.devmajor}, std::pair{kDevminor, in.devminor}}) {
      if (static_cast<uint64_t>(v) <= OctalMax(f)) {
        PutOctal(h, f, static_cast<uint64_t>(v));
      } else {
        PutBase256(h, f, static_cast<uint64_t>(v));
      }
    }
  }
  for (const auto& [key, value] : in.xattrs) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
      return invalid(fmt::format("xattr name \"{}\" cannot be written", key));
    }
    pax["SCHILY.xattr." + key] = value;
  }
  PutChecksum(h);

  if (!pax.empty()) {
    std::string records;
    for (const auto& [key, value] : pax) AppendPaxRecord(&records, key, value);
    Block ph{};
    std::string_view base = std::string_view(name);
    while (base.size() > 1 && base.back() == '/') base.remove_suffix(1);
    if (size_t slash = base.rfind('/'); slash != std::string_view::npos) {
      base = base.substr(slash + 1);
    }
    std::string pax_name = "PaxHeaders.0/" + std::string(base);
    PutString(ph, kName, std::string_view(pax_name).substr(0, kName.size - 1));
    PutOctal(ph, kMode, 0644);
    PutOctal(ph, kUid, 0);
    PutOctal(ph, kGid, 0);
    PutOctal(ph, kSize, records.size());
    PutOctal(ph, kMtime, 0);
    ph[kTypeflag] = 'x';
    PutUstarMagic(ph);
    PutChecksum(ph);
    HOIST_TRY(Emit(std::string_view(ph.data(), ph.size())));
    HOIST_TRY(Emit(records));
    size_t pad = BlockPadding(records.size());
    static const Block kZeros{};
    if (pad > 0) HOIST_TRY(Emit(std::string_view(kZeros.data(), pad)));
  }
  HOIST_TRY(Emit(std::string_view(h.data(), h.size())));
  body_left_ = static_cast<uint64_t>(size);
  padding_ = BlockPadding(body_left_);
  return OkStatus();
}

Status TarWriter::WriteData(std::string_view data) {
  if (data.size() > body_left_) {
    return MakeError(
        Code::kInvalidArgument,
        fmt::format("tar: {} bytes written beyond the entry's size", data.size() - body_left_));
  }
  if (data.empty()) return OkStatus();
  HOIST_TRY(Emit(data));
  body_left_ -= data.size();
  if (body_left_ == 0) HOIST_TRY(FinishBody());
  return OkStatus();
}

Status TarWriter::FinishBody() {
  static const Block kZeros{};
  if (padding_ > 0) HOIST_TRY(Emit(std::string_view(kZeros.data(), padding_)));
  padding_ = 0;
  return OkStatus();
}

Status TarWriter::Close() {
  if (closed_) return OkStatus();
  if (body_left_ > 0) {
    return MakeError(Code::kFailedPrecondition,
                     fmt::format("tar: last entry is {} bytes short", body_left_));
  }
  static const std::array<char, 2 * kBlockSize> kEnd{};
  HOIST_TRY(Emit(std::string_view(kEnd.data(), kEnd.size())));
  closed_ = true;
  return OkStatus();
}

}  // namespace hoist::archive
