// LocalContentStore: a ContentStore in a directory, every file operation through a FileSystem.
//
// On-disk format, version 1 (the blob half of an OCI image layout, so a layout's root or
// hoist's `content/` dir can be opened as a store):
//
//   <root>/blobs/<algorithm>/<encoded>   one committed blob per file, named by its digest
//                                        (`blobs/sha256/<64 hex>`); regular files only
//   <ingest>/<pid>.<seq>.<random>        writes in progress; <ingest> is <root>/ingest unless
//                                        configured (it must be on the same file system as
//                                        <root>, since commits rename out of it)
//
// Invariants: a file appears under blobs/ only by an atomic rename from the ingest dir after its
// size and digest were verified and its data synced, and the directory is synced after the
// rename; so after a crash a blob is either absent or complete and correct. Names under
// blobs/<alg>/ that are not a valid digest (editors' and other tools' temp files), directories
// and symlinks are not blobs and are ignored. Ingest files are private to their writer; a crash
// leaves them behind, readers never look at them, and a read-write Open removes old ones.
//
// Versioning: version 1 has no marker file, so that plain OCI layouts qualify. An incompatible
// future version will add a marker file at the root that version-1 code refuses; absence of a
// marker means version 1.
//
// Errors name blobs by digest and files by their path relative to the root (`blobs/sha256/ab..`,
// `ingest/...`), never by absolute path, because a store may serve a client's directory.
//
// Ownership: does not own the FileSystem, which must outlive the store. The store must outlive
// its readers and writers. Thread-safety: thread-safe; each reader or writer is used by one
// thread at a time. Refs are locked per store object; two store objects (or processes) writing
// the same ref use separate ingest files and cannot corrupt each other, since each commit is
// verified and atomic.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "base/file_system.h"
#include "content/content_store.h"

namespace hoist::content {

struct LocalContentStoreOptions {
  // Where writes in progress live. Empty means <root>/ingest.
  // REQUIRES: on the same file system as the root.
  std::string ingest_dir;
  // Serve reads only: Writer and Delete are kPermissionDenied, and no call of the store ever
  // creates, writes, renames or removes anything, so the root may be on a read-only mount.
  bool read_only = false;
  // A read-write Open removes ingest files not modified for this long (see Open).
  std::chrono::nanoseconds stale_ingest_age = std::chrono::minutes(1);
  // Commits sync each blob's data but leave syncing the directories that got new names to
  // SyncCommitted(), which a caller about to write a reference to its new blobs (an OCI
  // layout's index.json) calls first: one directory sync per batch of blobs instead of one
  // per blob. Until then a power cut may lose a committed name (never leave a wrong blob).
  bool defer_dir_sync = false;
  // The engine's own store: only its writers add blobs, each verified and synced when
  // committed, and nothing writes a blob in place. A store linking from it (LinkFrom) takes the
  // file as it is instead of hashing and syncing it again (`hoist debug fsck` reads them all).
  // A trusted store never takes a link itself: every blob in it is a file it wrote.
  bool trusted = false;
};

class LocalContentStore final : public ContentStore {
 public:
  static constexpr int kFormatVersion = 1;

  // Opens the store at `root`. Read-write: creates <root>/blobs as needed (the ingest dir is made by
  // the first Writer) and removes stale ingest files. Read-only: `root` must exist; blobs/ may not (an empty
  // store).
  //
  // Stale ingest files are those left by a writer that died. Writers in other processes may
  // share the ingest dir and cannot be asked whether they are alive, so only files untouched
  // for `stale_ingest_age` (a minute by default) are removed: a live writer appends and so
  // refreshes its file's mtime far more often than that. A writer idle for longer loses its
  // file and its Commit fails cleanly (kNotFound from the rename); it never corrupts a blob.
  static Result<std::unique_ptr<LocalContentStore>> Open(FileSystem* fs, std::string root,
                                                         LocalContentStoreOptions options = {});

  ~LocalContentStore() override;

  // ContentStore
  Result<BlobInfo> Info(const oci::Digest& digest) override;
  Result<std::unique_ptr<BlobReader>> ReaderAt(const oci::Digest& digest) override;
  Result<std::unique_ptr<BlobWriter>> Writer(const std::string& ref) override;
  Status Delete(const oci::Digest& digest) override;
  Status Walk(const std::function<Status(const BlobInfo&)>& fn) override;
  // Links from another LocalContentStore on the same file system: the source's file gets a
  // second name in this store's ingest dir, is hashed there and synced (unless the source is
  // `trusted`), then renamed into place, as a written blob is. The file is then shared by both
  // stores (blobs are never modified in place, only replaced or removed).
  Result<bool> LinkFrom(ContentStore& from, const oci::Descriptor& desc,
                        CancelContext* cancel) override;
  // A trusted store's blobs are all its own verified commits.
  bool VerifiedOnCommit() const override { return options_.trusted; }

  // Makes the names of the blobs committed so far durable (see defer_dir_sync; without it there
  // is never anything to do).
  Status SyncCommitted();

  const std::string& root() const { return root_; }
  const std::string& ingest_dir() const { return ingest_dir_; }
  bool read_only() const { return options_.read_only; }
  // Where the blob with `digest` lives (or would). REQUIRES: digest.valid().
  std::string BlobPath(const oci::Digest& digest) const;

 private:
  friend class LocalBlobWriter;

  LocalContentStore(FileSystem* fs, std::string root, LocalContentStoreOptions options);

  // Removes ingest files older than options_.stale_ingest_age; best effort.
  void RemoveStaleIngests();
  // Rewrites an error's message with paths relative to the root.
  Error Relative(Error e) const;
  Status ReadOnlyError(std::string_view what) const;
  // Takes and releases the in-process lock on a ref.
  bool TryLockRef(const std::string& ref);
  void UnlockRef(const std::string& ref);
  // A fresh ingest file name, unique across processes.
  std::string NewIngestPath();
  // Renames a complete, synced ingest file to the blob `digest` and makes that durable; on a
  // failed rename the ingest file is removed.
  Status Publish(const std::string& ingest_path, const oci::Digest& digest);
  // Hashes the file at `path`: kDataLoss unless it has desc's size and digest.
  Status VerifyFile(const std::string& path, const oci::Descriptor& desc, CancelContext* cancel);

  FileSystem* const fs_;
  const std::string root_;
  const std::string blobs_dir_;
  const std::string ingest_dir_;
  const LocalContentStoreOptions options_;

  std::mutex mu_;
  std::set<std::string> active_refs_;  // guarded by mu_
  std::set<std::string> unsynced_dirs_;  // guarded by mu_; with defer_dir_sync
};

}  // namespace hoist::content
