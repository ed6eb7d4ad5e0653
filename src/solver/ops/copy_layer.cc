// CopyLayer: see copy_layer.h.
//
// What a copy through an overlay leaves in its upper dir, and so what the layer must hold
// (ApplyCopy, file_copy.cc, is the reference; overlayfs's copy-up the other half):
//  - every entry the copy creates, with the metadata the copy gives it: owner (--chown, else
//    the source's), mode (--chmod, else the source's), the source's mtime (or the action's
//    timestamp); symlinks keep their target, mode 0777; hard links among the copied files stay
//    links (the first name in layer order holds the data);
//  - the directories the copy makes on the way to the destination (mkdir -p): 0755, owned by
//    --chown's owner or the engine's user;
//  - every directory of the parent on the path to a created entry, copied up by the overlay:
//    the parent's owner, mode and mtime (copy-up keeps the parent dir's times);
//  - a directory the copy writes an entry into directly (an existing one, or one it made on the
//    way) gets the time of that write; a copied directory gets its source's mtime after its
//    children are written, so it keeps it.
// The diff then writes these entries depth first, siblings in byte order of their names, mtimes
// in whole seconds (TarWriter's defaults), which is the order and form of the stream here.
//
// The layer is planned only when it can be computed from the sources and the parent's metadata
// alone. Planning declines, and the step copies through the overlay as before, when:
//  - the action unpacks archives (ADD), has include or exclude patterns, or an invalid --chmod;
//  - the destination path, or the path to it, holds a symlink or a non-directory in the parent
//    (the copy would follow or replace it), or a symlink the copy itself created;
//  - an entry the copy writes already exists (in the parent, or written by an earlier source of
//    the same action): replacing a file, or merging a copied directory into an existing one
//    (whose metadata the copy would change); only the destination directory itself may exist
//    and be merged into, keeping its own metadata;
//  - a directory of the parent that would be copied up has extended attributes (copy-up keeps
//    them, and POSIX default ACLs would change what the copy creates);
//  - a copied regular file has extended attributes (the copy sets them on the upper file, best
//    effort). This one is found only while the layer is written (declined() is then true and
//    the write fails): the caller discards what it wrote and copies through the overlay;
//  - a source entry is not a regular file, directory or symlink, or a name starts with `.wh.`
//    (the diff refuses those; the fallback reports them);
//  - anything fails while planning: the fallback reports bad input with its own errors;
//  - openat2 is missing (file bodies are opened with RESOLVE_NO_SYMLINKS).
// Whiteouts are never needed: a copy only adds.
#include "solver/ops/copy_layer.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "archive/compression.h"
#include "archive/confined_root.h"
#include "solver/ops/internal/file_util.h"
#include "source/checksum_cache.h"
#include "source/in_place_context.h"

namespace hoist::solver::ops {
namespace {

using internal::Display;
using internal::Owner;

constexpr size_t kChunk = size_t{1} << 20;

std::string Join(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  return std::string(a) + "/" + std::string(b);
}

std::string Parent(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? "" : p.substr(0, s);
}

std::string_view BaseName(std::string_view p) {
  size_t s = p.rfind('/');
  return s == std::string_view::npos ? p : p.substr(s + 1);
}

archive::TarTime TimeOf(const struct timespec& ts) {
  return archive::TarTime{ts.tv_sec, static_cast<int32_t>(ts.tv_nsec)};
}

bool HasXattrs(int dir_fd, const std::string& name) {
  const std::string p = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
  const ssize_t n = ::llistxattr(p.c_str(), nullptr, 0);
  return n > 0 || (n < 0 && errno != ENOTSUP);  // an error: cannot tell, so assume some
}

int OpenBeneath(int dir_fd, const std::string& path, uint64_t flags) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC | O_NOFOLLOW;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof(how));
    if (fd >= 0 || errno != EINTR) return static_cast<int>(fd);
  }
}

// Why planning stopped; not an error of the build.
tl::unexpected<Error> Decline(std::string why) {
  return MakeError(Code::kFailedPrecondition, std::move(why));
}

}  // namespace

// Builds the layer's tree over the parent's: nodes are the parent's directories the copy passes
// through (looked up once) and the entries it creates.
class CopyLayerPlanner {
 public:
  enum class Origin { kParent, kMade, kCopied };
  struct Node {
    Origin origin = Origin::kParent;
    std::string path;  // cleaned, in the root; "" for the root
    struct stat st {};  // the parent's (kParent), the source's (kCopied)
    archive::TarEntry header;
    bool wrote_child = false;  // the copy created an entry directly in it
    int source = -1;
    std::string source_path;
    std::string context_path;  // in-place sources: the entry's path in the context
    std::map<std::string, std::unique_ptr<Node>> children;
  };

  CopyLayerPlanner(archive::ConfinedRoot& src, archive::ConfinedRoot& dst, const CopyAction& a,
                   std::optional<Owner> owner, int64_t now_ns, CopyLayer* layer)
      : src_(src), dst_(dst), a_(a), owner_(owner), time_(internal::ToTimespec(a.timestamp)),
        now_{now_ns / 1000000000, static_cast<int32_t>(now_ns % 1000000000)}, layer_(layer) {
    root_.st.st_mode = S_IFDIR | 0755;
  }

  Status Run() {
    const std::string src_path = archive::CleanInRoot(a_.src);
    const std::string dest_path = archive::CleanInRoot(a_.dest);
    const bool dest_slash =
        !a_.dest.empty() && (a_.dest.back() == '/' || a_.dest.ends_with("/."));
    if (!a_.create_dest_path) {
      HOIST_ASSIGN_OR_RETURN(Node * parent, Lookup(Parent(dest_path)));
      if (parent == nullptr || !IsDir(*parent)) return Decline("the destination's parent is missing");
    }
    HOIST_TRY(MkdirAll(dest_slash ? dest_path : Parent(dest_path)));
    std::vector<std::string> srcs{src_path};
    if (a_.allow_wildcard) {
      auto found = internal::ResolveWildcards(src_, src_path, a_.follow_symlink);
      if (!found) return Decline(found.error().message());
      srcs = std::move(*found);
      if (srcs.empty() && !a_.allow_empty_wildcard) return Decline("no source matches");
    }
    for (const std::string& s : srcs) HOIST_TRY(CopyOne(s, dest_path));
    Flatten(root_);
    return OkStatus();
  }

 private:
  static bool IsDir(const Node& n) { return S_ISDIR(n.st.st_mode); }

  // The child `name` of `dir`: a node already known, or the parent's directory of that name.
  // Null when there is none.
  Result<Node*> Child(Node& dir, const std::string& name) {
    if (auto it = dir.children.find(name); it != dir.children.end()) return it->second.get();
    if (dir.origin != Origin::kParent) return nullptr;
    const std::string path = Join(dir.path, name);
    struct stat st;
    if (::fstatat(dst_.fd(), path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return nullptr;
      return Decline(fmt::format("lstat {}: errno {}", Display(path), errno));
    }
    if (!S_ISDIR(st.st_mode)) {
      return Decline(Display(path) + " exists in the parent and is not a directory");
    }
    auto node = std::make_unique<Node>();
    node->origin = Origin::kParent;
    node->path = path;
    node->st = st;
    Node* n = node.get();
    dir.children.emplace(name, std::move(node));
    return n;
  }

  // The node at `path`; null when missing. Declines on a non-directory on the way.
  Result<Node*> Lookup(const std::string& path) {
    Node* n = &root_;
    for (size_t pos = 0; pos < path.size();) {
      size_t slash = path.find('/', pos);
      if (slash == std::string::npos) slash = path.size();
      if (!IsDir(*n)) return Decline(Display(n->path) + " is not a directory");
      HOIST_ASSIGN_OR_RETURN(n, Child(*n, path.substr(pos, slash - pos)));
      if (n == nullptr) return nullptr;
      pos = slash + 1;
    }
    return n;
  }

  Node* Add(Node& dir, const std::string& name, Origin origin) {
    auto node = std::make_unique<Node>();
    node->origin = origin;
    node->path = Join(dir.path, name);
    dir.wrote_child = true;
    Node* n = node.get();
    dir.children.emplace(name, std::move(node));
    return n;
  }

  Status MkdirAll(const std::string& path) {
    Node* n = &root_;
    for (size_t pos = 0; pos < path.size();) {
      size_t slash = path.find('/', pos);
      if (slash == std::string::npos) slash = path.size();
      const std::string name = path.substr(pos, slash - pos);
      HOIST_ASSIGN_OR_RETURN(Node * child, Child(*n, name));
      if (child == nullptr) {
        child = Add(*n, name, Origin::kMade);
        child->st.st_mode = S_IFDIR | 0755;
        child->st.st_uid = owner_ ? owner_->uid : ::geteuid();
        child->st.st_gid = owner_ ? owner_->gid : ::getegid();
      } else if (!IsDir(*child)) {
        return Decline(Display(child->path) + " is not a directory");
      }
      n = child;
      pos = slash + 1;
    }
    return OkStatus();
  }

  mode_t Mode(const struct stat& st) const {
    uint32_t m = st.st_mode & 07777;
    if (!a_.mode_str.empty()) {
      auto r = ApplySymbolicMode(a_.mode_str, m, S_ISDIR(st.st_mode));
      if (r) m = *r;  // validated by Plan
    } else if (a_.mode >= 0) {
      m = (m & ~0777u) | (static_cast<uint32_t>(a_.mode) & 0777);
    }
    return m;
  }

  Status CopyOne(const std::string& src, const std::string& dest) {
    std::string followed = src;
    if (a_.follow_symlink && src_.FollowPath(src, &followed) != 0) {
      return Decline("cannot follow " + Display(src));
    }
    UniqueFd sdir;
    std::string sbase;
    int r = followed.empty() ? src_.OpenDir("", &sdir) : src_.OpenParent(followed, &sdir, &sbase);
    if (followed.empty()) sbase = ".";
    struct stat sst;
    if (r != 0 || ::fstatat(sdir.get(), sbase.c_str(), &sst, AT_SYMLINK_NOFOLLOW) != 0) {
      return Decline("cannot stat " + Display(src));
    }
    std::string context_path;
    if (layer_->in_place_ != nullptr) {
      auto where = source::InPlaceContext::PathInRoot(src_.fd(), sdir.get(), sbase);
      if (!where) return Decline("cannot place " + Display(src) + " in the context");
      context_path = *where;
      if (!layer_->in_place_->CheckEntry(context_path, sst)) return Decline(Display(src) + " changed");
    }
    const bool src_dir = S_ISDIR(sst.st_mode);
    HOIST_ASSIGN_OR_RETURN(Node * d, Lookup(dest));
    const bool dest_exists = d != nullptr;
    const bool dest_dir = dest_exists && IsDir(*d);
    std::string dest_path = dest;
    if ((!a_.dir_copy_contents && src_dir && dest_exists) || (!src_dir && dest_exists && dest_dir)) {
      dest_path = Join(dest_path, src.empty() ? "" : BaseName(src));
    }
    HOIST_TRY(MkdirAll(a_.dir_copy_contents && src_dir && !dest_exists ? dest_path
                                                                       : Parent(dest_path)));
    // One descriptor per source directory, however many sources a wildcard matched there.
    struct stat dst;
    if (::fstat(sdir.get(), &dst) != 0) return Decline("cannot stat the directory of " + Display(src));
    auto [at, added] = source_dirs_.try_emplace({dst.st_dev, dst.st_ino},
                                                static_cast<int>(layer_->sources_.size()));
    if (added) layer_->sources_.push_back(std::move(sdir));
    const int source = at->second;
    const int sfd = layer_->sources_[source].get();
    if (dest_path.empty()) {
      if (!src_dir) return Decline("a file cannot replace the root");
      return CopyChildren(sfd, sbase, sbase, context_path, source, root_);
    }
    HOIST_ASSIGN_OR_RETURN(Node * parent, Lookup(Parent(dest_path)));
    if (parent == nullptr || !IsDir(*parent)) return Decline("no directory for " + Display(dest_path));
    return CopyEntry(sfd, sbase, sst, sbase, context_path, source, *parent,
                     std::string(BaseName(dest_path)), /*top=*/true);
  }

  // Copies the source entry `sname` in `sdir` (stat `st`, `spath` its path below the source's
  // directory) to `dname` in `parent`.
  Status CopyEntry(int sdir, const std::string& sname, const struct stat& st,
                   const std::string& spath, const std::string& cpath, int source, Node& parent,
                   const std::string& dname, bool top) {
    if (layer_->cancel_ != nullptr) HOIST_TRY(layer_->cancel_->Check());
    if (dname.starts_with(".wh.")) return Decline("a name starts with .wh.");
    HOIST_ASSIGN_OR_RETURN(Node * existing, Child(parent, dname));
    if (S_ISDIR(st.st_mode)) {
      Node* self = existing;
      if (existing != nullptr) {
        // Only the destination itself merges, keeping its metadata; deeper merges change it.
        if (!top || existing->origin == Origin::kCopied) {
          return Decline(Display(existing->path) + " exists");
        }
      } else {
        self = Add(parent, dname, Origin::kCopied);
        SetCopied(*self, st, source, "");
      }
      return CopyChildren(sdir, sname, spath, cpath, source, *self);
    }
    if (existing != nullptr) return Decline("the copy replaces " + Display(existing->path));
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
      return Decline(Display(Join(parent.path, dname)) + " is not a file, directory or symlink");
    }
    Node* n = Add(parent, dname, Origin::kCopied);
    SetCopied(*n, st, source, spath);
    n->context_path = cpath;
    if (S_ISLNK(st.st_mode)) {
      std::string target(st.st_size + 1 > 4096 ? st.st_size + 1 : 4096, '\0');
      ssize_t len = ::readlinkat(sdir, sname.c_str(), target.data(), target.size());
      if (len < 0) return Decline("cannot read the link " + Display(n->path));
      target.resize(static_cast<size_t>(len));
      n->header.linkname = std::move(target);
    }
    return OkStatus();
  }

  // `cpath`: the directory's path in an in-place context ("" otherwise).
  Status CopyChildren(int sdir, const std::string& sname, const std::string& spath,
                      const std::string& cpath, int source, Node& self) {
    UniqueFd dir(::openat(sdir, sname.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    std::vector<std::string> names;
    if (!dir || internal::ListDir(dir.get(), &names) != 0) {
      return Decline("cannot list " + Display(spath));
    }
    source::InPlaceContext* in_place = layer_->in_place_;
    if (in_place != nullptr && !in_place->CheckDir(cpath, names)) {
      return Decline(Display(spath) + " changed");
    }
    for (const std::string& n : names) {
      struct stat st;
      if (::fstatat(dir.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return Decline("cannot stat " + Display(Join(spath, n)));
      }
      const std::string child = in_place != nullptr ? Join(cpath, n) : "";
      if (in_place != nullptr && !in_place->CheckEntry(child, st)) {
        return Decline(Display(Join(spath, n)) + " changed");
      }
      HOIST_TRY(CopyEntry(dir.get(), n, st, Join(spath, n), child, source, self, n, /*top=*/false));
    }
    return OkStatus();
  }

  void SetCopied(Node& n, const struct stat& st, int source, const std::string& spath) {
    n.st = st;
    n.source = source;
    n.source_path = spath;
    archive::TarEntry& h = n.header;
    h.mode = S_ISLNK(st.st_mode) ? 0777 : Mode(st);
    h.uid = owner_ ? owner_->uid : st.st_uid;
    h.gid = owner_ ? owner_->gid : st.st_gid;
    h.mtime = time_ ? TimeOf(*time_) : TimeOf(st.st_mtim);
  }

  // Appends `n`'s subtree in layer order; whether it wrote anything.
  bool Flatten(Node& n) {
    bool wrote = false;
    size_t at = layer_->entries_.size();
    if (&n != &root_) layer_->entries_.emplace_back();  // filled below, if kept
    for (auto& [name, child] : n.children) wrote = Flatten(*child) || wrote;
    if (&n == &root_) return wrote;
    if (n.origin == Origin::kParent && !wrote) {
      layer_->entries_.resize(at);
      return false;
    }
    CopyLayer::Entry& e = layer_->entries_[at];
    e.header = n.header;
    e.header.name = n.path;
    if (n.origin == Origin::kParent) {
      if (HasXattrs(dst_.fd(), n.path)) declined_ = Display(n.path) + " has extended attributes";
      e.header.mode = n.st.st_mode & 07777;
      e.header.uid = n.st.st_uid;
      e.header.gid = n.st.st_gid;
      e.header.mtime = n.wrote_child ? now_ : TimeOf(n.st.st_mtim);
    } else if (n.origin == Origin::kMade) {
      e.header.mode = n.st.st_mode & 07777;
      e.header.uid = n.st.st_uid;
      e.header.gid = n.st.st_gid;
      e.header.mtime = n.wrote_child || !time_ ? now_ : TimeOf(*time_);
    }
    if (S_ISDIR(n.st.st_mode)) {
      e.header.type = archive::TarEntryType::kDirectory;
    } else if (S_ISLNK(n.st.st_mode)) {
      e.header.type = archive::TarEntryType::kSymlink;
    } else {
      e.header.type = archive::TarEntryType::kRegular;
      e.header.size = n.st.st_size;
      e.source = n.source;
      e.source_path = n.source_path;
      e.source_ino = static_cast<int64_t>(n.st.st_ino);
      e.context_path = n.context_path;
      e.source_mtime_ns = n.st.st_mtim.tv_sec * 1000000000 + n.st.st_mtim.tv_nsec;
      if (n.st.st_nlink > 1) {
        auto [it, first] = links_.try_emplace({n.st.st_dev, n.st.st_ino}, n.path);
        if (!first) {
          e.header.type = archive::TarEntryType::kHardlink;
          e.header.linkname = it->second;
          e.header.size = 0;
          e.source = -1;
        }
      }
    }
    return true;
  }

 public:
  std::string declined_;

 private:
  archive::ConfinedRoot& src_;
  archive::ConfinedRoot& dst_;
  const CopyAction& a_;
  std::optional<Owner> owner_;
  std::optional<struct timespec> time_;
  archive::TarTime now_;
  CopyLayer* layer_;
  Node root_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
  std::map<std::pair<dev_t, ino_t>, int> source_dirs_;  // index in layer_->sources_
};

// Produces the tar as it is read: one header, or one chunk of a body, at a time.
class CopyLayerStream final : public archive::ByteSource {
 public:
  explicit CopyLayerStream(const CopyLayer& layer) : layer_(layer), sink_(&buf_), tar_(&sink_) {}

  Result<size_t> Read(void* out, size_t n) override {
    while (pos_ == buf_.size()) {
      if (done_) return 0;
      buf_.clear();
      pos_ = 0;
      HOIST_TRY(Step());
    }
    const size_t k = std::min(n, buf_.size() - pos_);
    std::memcpy(out, buf_.data() + pos_, k);
    pos_ += k;
    return k;
  }

 private:
  Status Step() {
    if (file_) {
      const CopyLayer::Entry& e = layer_.entries_[next_ - 1];
      chunk_.resize(static_cast<size_t>(std::min<uint64_t>(kChunk, left_)));
      size_t got = 0;
      while (got < chunk_.size()) {
        ssize_t r = ::read(file_.get(), chunk_.data() + got, chunk_.size() - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return Unexpected(internal::PathError(errno, "read", e.header.name));
        if (r == 0) return Changed(e);
        got += static_cast<size_t>(r);
      }
      HOIST_TRY(tar_.WriteData(chunk_));
      if (layer_.in_place_ != nullptr) digester_.Update(chunk_.data(), chunk_.size());
      left_ -= got;
      if (left_ == 0) {
        char extra;
        ssize_t r = ::read(file_.get(), &extra, 1);
        if (r != 0) return Changed(e);
        if (layer_.in_place_ != nullptr) {
          HOIST_TRY(layer_.FinishSource(e, file_.get(), digester_.Finish()));
        }
        file_.Reset();
      }
      return OkStatus();
    }
    if (next_ == layer_.entries_.size()) {
      HOIST_TRY(tar_.Close());
      done_ = true;
      return OkStatus();
    }
    if (layer_.cancel_ != nullptr) HOIST_TRY(layer_.cancel_->Check());
    const CopyLayer::Entry& e = layer_.entries_[next_++];
    if (e.header.type == archive::TarEntryType::kRegular && e.header.size > 0) {
      HOIST_ASSIGN_OR_RETURN(file_, layer_.OpenSource(e));
      left_ = static_cast<uint64_t>(e.header.size);  // digester_ is fresh: Finish resets it
    }
    return tar_.WriteHeader(e.header);
  }

  static tl::unexpected<Error> Changed(const CopyLayer::Entry& e) {
    return MakeError(Code::kAborted,
                     "copy " + Display(e.header.name) + ": the source file changed during the copy");
  }

  const CopyLayer& layer_;
  std::string buf_;
  size_t pos_ = 0;
  archive::StringByteSink sink_;
  archive::TarWriter tar_;
  size_t next_ = 0;
  UniqueFd file_;
  uint64_t left_ = 0;
  std::string chunk_;
  oci::Digester digester_;
  bool done_ = false;
};

std::unique_ptr<CopyLayer> CopyLayer::Plan(const std::string& src_root,
                                           const std::string& parent_root,
                                           const CopyAction& action,
                                           const CopyLayerOptions& options, std::string* why) {
  auto fail = [&](std::string reason) -> std::unique_ptr<CopyLayer> {
    *why = std::move(reason);
    return nullptr;
  };
  if (action.attempt_unpack_docker_compatibility) return fail("ADD may unpack archives");
  if (!action.include_patterns.empty() || !action.exclude_patterns.empty()) {
    return fail("include or exclude patterns");
  }
  if (!action.mode_str.empty() && !ApplySymbolicMode(action.mode_str, 0, false)) {
    return fail("invalid chmod");
  }
  {
    // File bodies are opened with openat2; without it, copy through the overlay.
    UniqueFd probe(OpenBeneath(AT_FDCWD, ".", O_RDONLY | O_DIRECTORY));
    if (!probe) return fail("no openat2");
  }
  auto src = archive::ConfinedRoot::Open(src_root);
  auto dst = archive::ConfinedRoot::Open(parent_root);
  if (!src || !dst) return fail("cannot open the roots");
  auto owner = internal::ResolveOwner(*dst, action.owner);
  if (!owner) return fail(owner.error().message());
  int64_t now_ns = options.now_ns;
  if (now_ns < 0) {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    now_ns = ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  std::unique_ptr<CopyLayer> layer(new CopyLayer());
  layer->cancel_ = options.cancel;
  layer->in_place_ = options.in_place;
  CopyLayerPlanner planner(*src, *dst, action, *owner, now_ns, layer.get());
  if (auto s = planner.Run(); !s) return fail(s.error().message());
  if (!planner.declined_.empty()) return fail(planner.declined_);
  return layer;
}

CopyLayer::~CopyLayer() = default;

Result<UniqueFd> CopyLayer::OpenSource(const Entry& e) const {
  UniqueFd fd(OpenBeneath(sources_[e.source].get(), e.source_path, O_RDONLY));
  if (!fd) return Unexpected(internal::PathError(errno, "open", e.header.name));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Unexpected(internal::PathError(errno, "stat", e.header.name));
  if (!S_ISREG(st.st_mode) || static_cast<int64_t>(st.st_ino) != e.source_ino ||
      st.st_size != e.header.size ||
      st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != e.source_mtime_ns) {
    return MakeError(Code::kAborted,
                     "copy " + Display(e.header.name) + ": the source file changed during the copy");
  }
  if (in_place_ != nullptr) {
    HOIST_TRY(in_place_->CheckEntry(e.context_path, st));
    const auto pinned = in_place_->Find(e.context_path);
    if (pinned && !(pinned->identity == source::StatIdentity(st))) {
      return Unexpected(
          in_place_->Changed(e.context_path, "it was modified or replaced since it was first read"));
    }
  }
  // Checked here rather than while planning: the descriptor is open anyway, and a path lookup
  // per file would cost more than the rest of the plan.
  const ssize_t n = ::flistxattr(fd.get(), nullptr, 0);
  if (n > 0 || (n < 0 && errno != ENOTSUP)) {
    declined_ = true;
    return MakeError(Code::kFailedPrecondition,
                     "copy " + Display(e.header.name) + ": the source file has extended attributes");
  }
  return fd;
}

Status CopyLayer::FinishSource(const Entry& e, int fd, const oci::Digest& digest) const {
  struct stat after;
  if (::fstat(fd, &after) != 0) return Unexpected(internal::PathError(errno, "stat", e.header.name));
  const source::FileIdentity identity = source::StatIdentity(after);
  const auto pinned = in_place_->Find(e.context_path);
  if (pinned && !(pinned->identity == identity)) {
    return Unexpected(in_place_->Changed(e.context_path, "it was modified while it was copied"));
  }
  if (pinned && pinned->digest != digest) {
    return Unexpected(
        in_place_->Changed(e.context_path, "its contents differ from when it was first read"));
  }
  if (!pinned) return in_place_->Record(e.context_path, identity, digest);
  return OkStatus();
}

Status CopyLayer::Write(archive::TarWriter* out) const {
  std::string chunk;
  for (const Entry& e : entries_) {
    if (cancel_ != nullptr) HOIST_TRY(cancel_->Check());
    HOIST_TRY(out->WriteHeader(e.header));
    if (e.header.type != archive::TarEntryType::kRegular || e.header.size == 0) continue;
    HOIST_ASSIGN_OR_RETURN(UniqueFd fd, OpenSource(e));
    uint64_t left = static_cast<uint64_t>(e.header.size);
    oci::Digester digester;
    while (left > 0) {
      chunk.resize(static_cast<size_t>(std::min<uint64_t>(kChunk, left)));
      ssize_t r = ::read(fd.get(), chunk.data(), chunk.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Unexpected(internal::PathError(errno, "read", e.header.name));
      if (r == 0) {
        return MakeError(Code::kAborted, "copy " + Display(e.header.name) +
                                             ": the source file changed during the copy");
      }
      HOIST_TRY(out->WriteData(std::string_view(chunk.data(), static_cast<size_t>(r))));
      if (in_place_ != nullptr) digester.Update(chunk.data(), static_cast<size_t>(r));
      left -= static_cast<uint64_t>(r);
    }
    char extra;
    if (::read(fd.get(), &extra, 1) != 0) {
      return MakeError(Code::kAborted, "copy " + Display(e.header.name) +
                                           ": the source file changed during the copy");
    }
    if (in_place_ != nullptr) HOIST_TRY(FinishSource(e, fd.get(), digester.Finish()));
  }
  return OkStatus();
}

std::unique_ptr<archive::ByteSource> CopyLayer::Stream() const {
  return std::make_unique<CopyLayerStream>(*this);
}

}  // namespace hoist::solver::ops
