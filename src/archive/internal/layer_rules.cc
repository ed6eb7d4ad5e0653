#include "archive/internal/layer_rules.h"

#include <fmt/format.h>

#include "archive/internal/root_resolver.h"

namespace hoist::archive::internal {
namespace {

constexpr uint64_t kMaxId = 0xfffffffeULL;  // (uid_t)-1 means "leave unchanged" to chown
// containerd bounds times to [epoch, year 2262] (what Go's time.Unix(0, MaxInt64) can hold).
constexpr int64_t kMaxTimeSec = INT64_MAX / 1000000000;

}  // namespace

std::string Quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      out.append(fmt::format("\\x{:02x}", c));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
  return out;
}

struct timespec BoundTime(const TarTime& t) {
  if (t.sec < 0 || t.sec > kMaxTimeSec) return {0, 0};
  return {static_cast<time_t>(t.sec), static_cast<long>(t.nsec)};
}

Status CheckPathLength(std::string_view path) {
  if (path.size() > kMaxPathLength) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("name longer than {} bytes", kMaxPathLength));
  }
  return OkStatus();
}

Status CheckComponentLength(std::string_view base) {
  if (base.size() > NAME_MAX) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("name component longer than {} bytes", NAME_MAX));
  }
  return OkStatus();
}

Status CheckEntryType(const TarEntry& e) {
  if (e.type == TarEntryType::kOther) {
    return MakeError(Code::kUnimplemented,
                     fmt::format("unsupported entry type {}", Quote({&e.typeflag, 1})));
  }
  return OkStatus();
}

Status CheckOwner(const TarEntry& e) {
  if (e.type != TarEntryType::kHardlink && (e.uid < 0 || static_cast<uint64_t>(e.uid) > kMaxId ||
                                            e.gid < 0 || static_cast<uint64_t>(e.gid) > kMaxId)) {
    return MakeError(Code::kInvalidArgument, fmt::format("invalid owner {}:{}", e.uid, e.gid));
  }
  return OkStatus();
}

Result<WhiteoutKind> ClassifyWhiteout(const TarEntry& e, std::string_view base,
                                      std::string_view* target) {
  if (e.type != TarEntryType::kRegular && e.type != TarEntryType::kHardlink) {
    return MakeError(
        Code::kInvalidArgument,
        fmt::format("invalid whiteout: a {}, not a regular file", TarEntryTypeName(e.type)));
  }
  if (base == kOpaqueMarker) return WhiteoutKind::kOpaque;
  if (base.starts_with(kAufsMetaPrefix)) return WhiteoutKind::kAufsMeta;
  *target = base.substr(kWhiteoutPrefix.size());
  if (target->empty() || *target == "." || *target == "..") {
    return MakeError(Code::kInvalidArgument, "invalid whiteout name " + Quote(base));
  }
  HOIST_TRY(CheckComponentLength(*target));
  return WhiteoutKind::kWhiteout;
}

Status CleanHardlinkTarget(const TarEntry& e, std::string* out, std::string_view* dir,
                           std::string_view* base) {
  CleanRootedPath(e.linkname, out);
  if (out->empty()) return MakeError(Code::kInvalidArgument, "hardlink to the root directory");
  if (out->size() > kMaxPathLength) {
    return MakeError(Code::kInvalidArgument, "hardlink target longer than PATH_MAX");
  }
  SplitPath(*out, dir, base);
  if (base->size() > NAME_MAX) {
    return MakeError(Code::kInvalidArgument, "hardlink target component longer than NAME_MAX");
  }
  return OkStatus();
}

Status CheckSymlinkTarget(const TarEntry& e) {
  if (e.linkname.size() >= PATH_MAX) {
    return MakeError(Code::kInvalidArgument, "symlink target longer than PATH_MAX");
  }
  return OkStatus();
}

Status CheckDeviceNumber(const TarEntry& e, uint32_t* major, uint32_t* minor) {
  // Linux's dev_t as mknod(2) takes it: 12 bits of major, 20 of minor (glibc refuses more).
  if (e.devmajor < 0 || e.devmajor > 0xfff || e.devminor < 0 || e.devminor > 0xfffff) {
    return MakeError(Code::kInvalidArgument,
                     fmt::format("invalid device number {}:{}", e.devmajor, e.devminor));
  }
  *major = static_cast<uint32_t>(e.devmajor);
  *minor = static_cast<uint32_t>(e.devminor);
  return OkStatus();
}

}  // namespace hoist::archive::internal
