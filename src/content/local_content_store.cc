#include "content/local_content_store.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

#include "base/direct_io.h"
#include "base/log.h"

namespace hoist::content {
namespace {

// As ReadVerified's chunks (content_store.cc): a fresh buffer of 1 MiB costs more in page
// faults than it saves in calls.
constexpr size_t kHashChunkSize = 64 << 10;

// Hashes the first `limit` bytes of `file` into `digester`, fewer if the file ends first;
// returns how many it hashed.
Result<uint64_t> HashFile(ReadableFile& file, uint64_t limit, oci::Digester& digester,
                          CancelContext* cancel) {
  const auto buf = std::make_unique_for_overwrite<char[]>(kHashChunkSize);
  uint64_t offset = 0;
  while (offset < limit) {
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kHashChunkSize, limit - offset));
    HOIST_ASSIGN_OR_RETURN(size_t n, file.ReadAt(offset, buf.get(), want));
    if (n == 0) break;
    digester.Update(buf.get(), n);
    offset += n;
  }
  return offset;
}

std::string StripTrailingSlashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string RandomHex() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string out(16, '0');
  for (char& c : out) {
    c = kHex[v & 0xf];
    v >>= 4;
  }
  return out;
}

class LocalBlobReader final : public BlobReader {
 public:
  // `relative` rewrites error messages as the store does (see LocalContentStore::Relative).
  // A blob larger than what its writer puts through the page cache is read back around it
  // too (DirectReader), from `path`, the file's name.
  LocalBlobReader(std::unique_ptr<ReadableFile> file, int64_t size, const std::string& path,
                  std::function<Error(Error)> relative)
      : file_(std::move(file)), size_(size), relative_(std::move(relative)) {
    if (static_cast<uint64_t>(size_) > DirectAppender::kBufferedPrefix) {
      direct_.emplace(file_.get(), path);
    }
  }

  Result<size_t> ReadAt(int64_t offset, void* buf, size_t n) override {
    if (offset < 0) {
      return MakeError(Code::kInvalidArgument, "read at negative offset " + std::to_string(offset));
    }
    if (offset >= size_) return size_t{0};
    n = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(n), size_ - offset));
    Result<size_t> r = size_t{0};
    if (direct_) {
      std::lock_guard lock(direct_mu_);  // its staging buffer is one reader's at a time
      r = direct_->ReadAt(static_cast<uint64_t>(offset), buf, n);
    } else {
      r = file_->ReadAt(static_cast<uint64_t>(offset), buf, n);
    }
    if (!r) return Unexpected(relative_(std::move(r).error()));
    return *r;
  }
  int64_t Size() const override { return size_; }

 private:
  std::unique_ptr<ReadableFile> file_;
  int64_t size_;
  std::function<Error(Error)> relative_;
  std::mutex direct_mu_;
  std::optional<DirectReader> direct_;
};

}  // namespace

// Writes into a private ingest file and hashes (sha256) as the bytes go by, so that Commit
// normally needs no second pass. Owns the ingest file until Commit renames it into blobs/;
// holds the ref's lock until Commit finishes or the writer is destroyed.
class LocalBlobWriter final : public BlobWriter {
 public:
  LocalBlobWriter(LocalContentStore* store, std::string ref, std::string ingest_path,
                  std::unique_ptr<WritableFile> file)
      : store_(store),
        ref_(std::move(ref)),
        ingest_path_(std::move(ingest_path)),
        file_(std::move(file)) {}

  ~LocalBlobWriter() override {
    if (!finished_) Discard();
    ReleaseRef();
  }

  Status Write(std::string_view data) override {
    if (finished_) return FinishedError();
    if (broken_) return BrokenError();
    auto s = file_->Append(data);
    if (!s) {
      // Part of the data may be on disk; the writer can no longer tell what it holds.
      broken_ = true;
      return Unexpected(store_->Relative(std::move(s).error()));
    }
    offset_ += static_cast<int64_t>(data.size());
    if (cached_sha256_) {
      // Digest() finished the running hash; Commit rehashes from the file.
      cached_sha256_.reset();
    } else if (hasher_valid_) {
      hasher_.Update(data);
    }
    return {};
  }

  int64_t Offset() const override { return offset_; }

  void SourceVerifies(const oci::Digest& digest, int64_t size) override {
    if (offset_ != 0 || !hasher_valid_ || digest.algorithm() != "sha256" || size < 0) return;
    verified_ = digest;
    verified_size_ = size;
    hasher_valid_ = false;
  }

  Status Commit(int64_t expected_size, const oci::Digest& expected) override {
    if (finished_) return FinishedError();
    finished_ = true;
    Status s = DoCommit(expected_size, expected);
    if (!s) Discard();
    ReleaseRef();
    if (!s) return Unexpected(store_->Relative(std::move(s).error()));
    return {};
  }

  oci::Digest Digest() override {
    if (committed_.valid()) return committed_;
    auto d = ComputeDigest(oci::Digest());
    return d ? *d : oci::Digest();
  }

 private:
  Status DoCommit(int64_t expected_size, const oci::Digest& expected) {
    if (broken_) return BrokenError();
    HOIST_ASSIGN_OR_RETURN(oci::Digest actual, ComputeDigest(expected));
    // Name the blob by what the caller expected, so the error matches the descriptor at hand.
    const oci::Digest& named = expected.valid() ? expected : actual;
    if (expected_size >= 0 && offset_ != expected_size) {
      return Unexpected(SizeMismatch(named, expected_size, offset_));
    }
    if (expected.valid() && actual != expected) {
      return Unexpected(DigestMismatch(expected, actual));
    }

    FileSystem* fs = store_->fs_;
    const std::string target = store_->BlobPath(actual);
    HOIST_ASSIGN_OR_RETURN(auto existing, fs->Stat(target));
    if (existing && existing->type == FileInfo::Type::kRegular &&
        existing->size == static_cast<uint64_t>(offset_)) {
      // Same name means same digest; with the same size we trust it as identical, as readers
      // verify what they take from it (ReadVerified, a layer's DiffID) and fsck checks all.
      // The ingest file is now garbage; failing to remove it only leaves work for the next Open.
      file_.reset();
      (void)fs->Remove(ingest_path_);
      ingest_path_.clear();
      committed_ = actual;
      return {};
    }
    // Anything else at `target` (a damaged blob of the wrong size, a symlink) is replaced by
    // the rename; a directory makes the rename fail.

    HOIST_TRY(file_->Sync());
    HOIST_TRY(file_->Close());
    file_.reset();
    std::string path = std::move(ingest_path_);
    ingest_path_.clear();
    committed_ = actual;  // what Digest() answers, whether or not the rename succeeds
    return store_->Publish(path, actual);
  }

  // The digest of the bytes written, in the algorithm of `like` (sha256 if !like.valid()).
  Result<oci::Digest> ComputeDigest(const oci::Digest& like) {
    if (like.valid() && like.algorithm() != "sha256") {
      oci::Digester digester(like);
      HOIST_TRY(HashIngestFile(digester));
      return digester.Finish();
    }
    if (cached_sha256_) return *cached_sha256_;
    if (verified_.valid() && offset_ == verified_size_) return verified_;
    if (hasher_valid_) {
      cached_sha256_ = hasher_.Finish();
      hasher_valid_ = false;
      return *cached_sha256_;
    }
    oci::Digester digester;
    HOIST_TRY(HashIngestFile(digester));
    cached_sha256_ = digester.Finish();
    return *cached_sha256_;
  }

  Status HashIngestFile(oci::Digester& digester) {
    if (file_) HOIST_TRY(file_->Flush());
    HOIST_ASSIGN_OR_RETURN(auto file, store_->fs_->OpenForRead(ingest_path_));
    HOIST_ASSIGN_OR_RETURN(uint64_t hashed,
                           HashFile(*file, static_cast<uint64_t>(offset_), digester, nullptr));
    if (hashed < static_cast<uint64_t>(offset_)) {
      return MakeError(Code::kDataLoss, "ref " + ref_ + ": ingest file is shorter than written");
    }
    return {};
  }

  // Closes and removes the ingest file, best effort: a leftover is harmless (readers ignore
  // the ingest dir) and the next read-write Open removes it once it is stale.
  void Discard() {
    file_.reset();
    if (!ingest_path_.empty()) (void)store_->fs_->Remove(ingest_path_);
    ingest_path_.clear();
  }

  void ReleaseRef() {
    if (ref_locked_) store_->UnlockRef(ref_);
    ref_locked_ = false;
  }

  Status FinishedError() const {
    return MakeError(Code::kFailedPrecondition, "ref " + ref_ + ": writer is already finished");
  }
  Status BrokenError() const {
    return MakeError(Code::kFailedPrecondition, "ref " + ref_ + ": an earlier write failed");
  }

  LocalContentStore* const store_;
  const std::string ref_;
  bool ref_locked_ = true;
  std::string ingest_path_;  // empty once renamed or removed
  std::unique_ptr<WritableFile> file_;
  int64_t offset_ = 0;
  oci::Digester hasher_;  // sha256 of everything written, while hasher_valid_
  bool hasher_valid_ = true;
  // What the source verified the bytes as (SourceVerifies): their digest once all are written.
  oci::Digest verified_;
  int64_t verified_size_ = -1;
  std::optional<oci::Digest> cached_sha256_;
  oci::Digest committed_;
  bool finished_ = false;
  bool broken_ = false;
};

LocalContentStore::LocalContentStore(FileSystem* fs, std::string root,
                                     LocalContentStoreOptions options)
    : fs_(fs),
      root_(std::move(root)),
      blobs_dir_(JoinPath(root_, "blobs")),
      ingest_dir_(options.ingest_dir.empty() ? JoinPath(root_, "ingest")
                                             : StripTrailingSlashes(options.ingest_dir)),
      options_(std::move(options)) {}

LocalContentStore::~LocalContentStore() = default;

Result<std::unique_ptr<LocalContentStore>> LocalContentStore::Open(
    FileSystem* fs, std::string root, LocalContentStoreOptions options) {
  root = StripTrailingSlashes(std::move(root));
  if (root.empty()) return MakeError(Code::kInvalidArgument, "content store: empty root path");
  std::unique_ptr<LocalContentStore> store(
      new LocalContentStore(fs, std::move(root), std::move(options)));

  if (store->read_only()) {
    HOIST_ASSIGN_OR_RETURN(auto info, fs->Stat(store->root_));
    if (!info) {
      return MakeError(Code::kNotFound, "content store " + store->root_ + ": no such directory");
    }
    // A symlink is followed: the root is the caller's choice of path (say /srv/layout pointing
    // into a bigger disk). Only blob files themselves must not be symlinks.
    if (info->type != FileInfo::Type::kDirectory && info->type != FileInfo::Type::kSymlink) {
      return MakeError(Code::kFailedPrecondition,
                       "content store " + store->root_ + ": not a directory");
    }
    return store;
  }

  HOIST_ASSIGN_OR_RETURN(auto blobs, fs->Stat(store->blobs_dir_));
  if (!blobs) {
    HOIST_TRY(fs->MakeDirs(store->blobs_dir_));
    HOIST_TRY(fs->SyncDir(store->root_));
  }
  HOIST_ASSIGN_OR_RETURN(auto ingest, fs->Stat(store->ingest_dir_));
  if (ingest) store->RemoveStaleIngests();
  return store;
}

void LocalContentStore::RemoveStaleIngests() {
  auto names = fs_->ListDir(ingest_dir_);
  if (!names) {
    HOIST_LOG(kWarning, "content: cannot list ingest dir: {}",
              Relative(std::move(names).error()).message());
    return;
  }
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t max_age_ns = options_.stale_ingest_age.count();
  for (const std::string& name : *names) {
    std::string path = JoinPath(ingest_dir_, name);
    auto info = fs_->Stat(path);
    if (!info || !*info || (*info)->type == FileInfo::Type::kDirectory) continue;
    if (now_ns - (*info)->mtime_ns < max_age_ns) continue;
    auto s = fs_->Remove(path);
    if (!s && s.error().code() != Code::kNotFound) {
      HOIST_LOG(kWarning, "content: cannot remove stale ingest file: {}",
                Relative(std::move(s).error()).message());
    }
  }
}

std::string LocalContentStore::BlobPath(const oci::Digest& digest) const {
  return JoinPath(JoinPath(blobs_dir_, digest.algorithm()), digest.encoded());
}

Error LocalContentStore::Relative(Error e) const {
  const std::string prefix = root_.back() == '/' ? root_ : root_ + "/";
  std::string msg = e.message();
  for (size_t pos = msg.find(prefix); pos != std::string::npos; pos = msg.find(prefix, pos)) {
    msg.erase(pos, prefix.size());
  }
  if (msg == e.message()) return e;
  return Error(e.code(), std::move(msg));
}

Status LocalContentStore::ReadOnlyError(std::string_view what) const {
  return MakeError(Code::kPermissionDenied,
                   "content store is read-only: cannot " + std::string(what));
}

bool LocalContentStore::TryLockRef(const std::string& ref) {
  std::lock_guard<std::mutex> l(mu_);
  return active_refs_.insert(ref).second;
}

void LocalContentStore::UnlockRef(const std::string& ref) {
  std::lock_guard<std::mutex> l(mu_);
  active_refs_.erase(ref);
}

std::string LocalContentStore::NewIngestPath() {
  // pid and sequence make names unique within a host; the random part covers processes in
  // other pid namespaces sharing the directory.
  static std::atomic<uint64_t> seq{0};
  return JoinPath(ingest_dir_, std::to_string(::getpid()) + "." + std::to_string(seq.fetch_add(1)) +
                                   "." + RandomHex());
}

Result<BlobInfo> LocalContentStore::Info(const oci::Digest& digest) {
  if (!digest.valid()) return MakeError(Code::kInvalidArgument, "content: invalid digest");
  auto info = fs_->Stat(BlobPath(digest));
  if (!info) return Unexpected(Relative(std::move(info).error()));
  // Only regular files are blobs: a symlink could point anywhere, a directory is debris.
  if (!*info || (*info)->type != FileInfo::Type::kRegular) return Unexpected(BlobNotFound(digest));
  return BlobInfo{digest, static_cast<int64_t>((*info)->size)};
}

Result<std::unique_ptr<BlobReader>> LocalContentStore::ReaderAt(const oci::Digest& digest) {
  // Checked with lstat first because opening follows symlinks. The root is the store's own
  // directory, so a swap between the two calls is not a threat we defend against.
  HOIST_TRY(Info(digest));
  auto file = fs_->OpenForRead(BlobPath(digest));
  if (!file) {
    if (file.error().code() == Code::kNotFound) return Unexpected(BlobNotFound(digest));
    return Unexpected(Relative(std::move(file).error()));
  }
  auto size = (*file)->Size();
  if (!size) return Unexpected(Relative(std::move(size).error()));
  return std::unique_ptr<BlobReader>(
      new LocalBlobReader(std::move(*file), static_cast<int64_t>(*size), BlobPath(digest),
                          [this](Error e) { return Relative(std::move(e)); }));
}

Result<std::unique_ptr<BlobWriter>> LocalContentStore::Writer(const std::string& ref) {
  if (read_only()) return Unexpected(ReadOnlyError("write ref " + ref).error());
  if (!TryLockRef(ref)) return MakeError(Code::kUnavailable, "ref " + ref + " is locked");
  Result<std::unique_ptr<WritableFile>> file = MakeError(Code::kInternal, "unreachable");
  std::string path;
  // A name collision is practically impossible, but cheap to survive.
  for (int attempt = 0; attempt < 3; ++attempt) {
    path = NewIngestPath();
    file = fs_->CreateFile(path, /*exclusive=*/true, 0644);
    if (!file && file.error().code() == Code::kNotFound) {
      // The ingest dir is made on first use (so opening a store for writing changes nothing
      // until something is written) and may have been removed as empty by another process.
      if (Status made = fs_->MakeDirs(ingest_dir_); !made) {
        UnlockRef(ref);
        return Unexpected(Relative(std::move(made).error()));
      }
      file = fs_->CreateFile(path, /*exclusive=*/true, 0644);
    }
    if (file || file.error().code() != Code::kAlreadyExists) break;
  }
  if (!file) {
    UnlockRef(ref);
    return Unexpected(Relative(std::move(file).error()));
  }
  return std::unique_ptr<BlobWriter>(
      new LocalBlobWriter(this, ref, std::move(path), std::move(*file)));
}

Status LocalContentStore::Delete(const oci::Digest& digest) {
  if (read_only()) return ReadOnlyError("delete " + digest.str());
  HOIST_TRY(Info(digest));
  // No directory sync: a deletion lost to a crash brings back a complete, valid blob.
  auto s = fs_->Remove(BlobPath(digest));
  if (!s) {
    if (s.error().code() == Code::kNotFound) return Unexpected(BlobNotFound(digest));
    return Unexpected(Relative(std::move(s).error()));
  }
  return {};
}

namespace {
// Directories on the way to a blob may be symlinks, as Info's path lookup follows them too.
bool IsDirLike(const std::optional<FileInfo>& info) {
  return info &&
         (info->type == FileInfo::Type::kDirectory || info->type == FileInfo::Type::kSymlink);
}
}  // namespace

Status LocalContentStore::Publish(const std::string& ingest_path, const oci::Digest& digest) {
  const std::string alg_dir = JoinPath(blobs_dir_, digest.algorithm());
  HOIST_ASSIGN_OR_RETURN(auto alg_info, fs_->Stat(alg_dir));
  const bool new_alg_dir = !alg_info.has_value();
  if (new_alg_dir) HOIST_TRY(fs_->MakeDirs(alg_dir));
  if (Status st = fs_->Rename(ingest_path, BlobPath(digest)); !st) {
    (void)fs_->Remove(ingest_path);
    return st;
  }
  // The blob is visible and complete from here on; these only make it durable.
  if (options_.defer_dir_sync) {
    std::lock_guard<std::mutex> l(mu_);
    unsynced_dirs_.insert(alg_dir);
    if (new_alg_dir) unsynced_dirs_.insert(blobs_dir_);
    return {};
  }
  HOIST_TRY(fs_->SyncDir(alg_dir));
  if (new_alg_dir) HOIST_TRY(fs_->SyncDir(blobs_dir_));
  return {};
}

Status LocalContentStore::SyncCommitted() {
  std::set<std::string> dirs;
  {
    std::lock_guard<std::mutex> l(mu_);
    dirs.swap(unsynced_dirs_);
  }
  // Deepest first (blobs/sha256 before blobs), as the immediate syncs go.
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (Status st = fs_->SyncDir(*it); !st) {
      std::lock_guard<std::mutex> l(mu_);
      unsynced_dirs_.insert(dirs.begin(), dirs.end());
      return Unexpected(Relative(std::move(st).error()));
    }
  }
  return {};
}

Result<bool> LocalContentStore::LinkFrom(ContentStore& from, const oci::Descriptor& desc,
                                         CancelContext* cancel) {
  auto* source = dynamic_cast<LocalContentStore*>(&from);
  // A trusted store takes no links: a file someone else may own and write to would then be
  // one of the blobs it hands on without hashing.
  if (source == nullptr || read_only() || options_.trusted || !desc.digest.valid() ||
      !desc.digest.supported()) {
    return false;
  }
  if (auto present = Info(desc.digest); present && present->size == desc.size) return true;
  // Whatever is wrong with the source's blob, the copy reports it as a copy does.
  if (auto info = source->Info(desc.digest); !info || info->size != desc.size) return false;

  std::string path = NewIngestPath();
  Status linked = fs_->Link(source->BlobPath(desc.digest), path);
  if (!linked && linked.error().code() == Code::kNotFound && fs_->MakeDirs(ingest_dir_)) {
    linked = fs_->Link(source->BlobPath(desc.digest), path);  // the ingest dir was missing
  }
  if (!linked) return false;  // the source went away, or no link here: copy instead

  // Verified under the new name, so what is published is exactly what was hashed; synced,
  // since nothing says who wrote the source's data or whether it is durable yet. Unless the
  // source is the engine's store, where both were done when the blob was committed.
  Status st;
  if (!source->options_.trusted) {
    st = VerifyFile(path, desc, cancel);
    if (st) st = fs_->SyncFile(path);
  }
  if (!st) {
    (void)fs_->Remove(path);
    return Unexpected(Relative(std::move(st).error()));
  }
  HOIST_TRY(Publish(path, desc.digest).map_error([this](Error e) {
    return Relative(std::move(e));
  }));
  return true;
}

Status LocalContentStore::VerifyFile(const std::string& path, const oci::Descriptor& desc,
                                     CancelContext* cancel) {
  HOIST_ASSIGN_OR_RETURN(auto file, fs_->OpenForRead(path));
  oci::Digester digester(desc.digest);
  // One byte more than expected is asked for, so a longer file is caught without reading it all.
  const uint64_t size = static_cast<uint64_t>(desc.size);
  HOIST_ASSIGN_OR_RETURN(uint64_t hashed, HashFile(*file, size + 1, digester, cancel));
  if (hashed != size) {
    return Unexpected(SizeMismatch(desc.digest, desc.size, static_cast<int64_t>(hashed)));
  }
  if (oci::Digest got = digester.Finish(); got != desc.digest) {
    return Unexpected(DigestMismatch(desc.digest, got));
  }
  return {};
}

Status LocalContentStore::Walk(const std::function<Status(const BlobInfo&)>& fn) {
  auto blobs = fs_->Stat(blobs_dir_);
  if (!blobs) return Unexpected(Relative(std::move(blobs).error()));
  // A read-only store over a root without blobs/ is simply empty.
  if (!IsDirLike(*blobs)) return {};
  auto algorithms = fs_->ListDir(blobs_dir_);
  if (!algorithms) return Unexpected(Relative(std::move(algorithms).error()));
  for (const std::string& alg : *algorithms) {
    std::string alg_dir = JoinPath(blobs_dir_, alg);
    auto alg_info = fs_->Stat(alg_dir);
    if (!alg_info) return Unexpected(Relative(std::move(alg_info).error()));
    if (!IsDirLike(*alg_info)) continue;
    auto names = fs_->ListDir(alg_dir);
    if (!names) {
      // A symlink to something that is not a directory is not a blob directory.
      if (names.error().code() == Code::kNotFound ||
          (*alg_info)->type == FileInfo::Type::kSymlink) {
        continue;
      }
      return Unexpected(Relative(std::move(names).error()));
    }
    for (const std::string& name : *names) {
      // Digest validation is what keeps temp files and odd names out.
      auto digest = oci::Digest::Parse(alg + ":" + name);
      if (!digest) continue;
      auto info = fs_->Stat(JoinPath(alg_dir, name));
      if (!info) return Unexpected(Relative(std::move(info).error()));
      if (!*info || (*info)->type != FileInfo::Type::kRegular) continue;
      HOIST_TRY(fn(BlobInfo{*digest, static_cast<int64_t>((*info)->size)}));
    }
  }
  return {};
}

}  // namespace hoist::content
