// SnapshotterBase: what the overlay and native snapshotters share: the root lock, the metadata
// (internal/metadata.h), the kind and parent rules of the Snapshotter API, crash repair on open,
// and the directory layout. Implementations fill in how a snapshot's directories are made, how
// it is mounted and how it is diffed.
//
// Thread-safety: every public call holds mu_ while it reads or changes the metadata; the hooks
// are called with mu_ held. Processes: every public call also holds an flock on
// `<root>/metadata.lock` while it reads or changes the metadata, and first catches up with
// what other processes changed: the lock file holds a generation number that each change
// increments before it writes, and an epoch that each rewrite of metadata.json increments;
// a new generation means reading the journal's new lines, a new epoch (or a journal shorter
// than what was read) reading metadata.json and the journal afresh. The root lock is shared;
// the process that opens the root alone repairs it first.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "snapshot/internal/metadata.h"
#include "snapshot/snapshotter.h"

namespace hoist::snapshot::internal {

class SnapshotterBase : public Snapshotter {
 public:
  Result<Info> Stat(const std::string& key) override;
  Result<std::vector<Mount>> Prepare(const std::string& key, const std::string& parent,
                                     const Labels& labels) override;
  Result<std::vector<Mount>> View(const std::string& key, const std::string& parent,
                                  const Labels& labels) override;
  Result<std::vector<Mount>> PrepareLayer(const std::string& key, const std::string& parent,
                                          const Labels& labels) override;
  Result<std::vector<Mount>> Mounts(const std::string& key) override;
  Status Commit(const std::string& name, const std::string& key, const Labels& labels) override;
  Status Remove(const std::string& key) override;
  Status Walk(const std::function<Status(const Info&)>& fn) override;
  Result<Usage> GetUsage(const std::string& key) override;
  Result<WritableDir> Writable(const std::string& key) override;
  Status WriteDiff(const std::string& key, archive::TarWriter* out,
                   const archive::DiffOptions& options) override;

 protected:
  SnapshotterBase(std::string root, std::string driver)
      : root_(std::move(root)), driver_(std::move(driver)) {}
  // Takes the root lock, loads the metadata, detaches the mounts a crashed process left on
  // `fs` dirs and removes what the metadata does not name.
  Status Open();

  // mu_ and the metadata lock together, with metadata_ as the file holds it.
  class Locked {
   public:
    Locked(Locked&& o) noexcept : mu_(std::move(o.mu_)), fd_(std::exchange(o.fd_, -1)) {}
    Locked& operator=(Locked&&) = delete;
    ~Locked();

   private:
    friend class SnapshotterBase;
    Locked(std::unique_lock<std::mutex> mu, int fd) : mu_(std::move(mu)), fd_(fd) {}
    std::unique_lock<std::mutex> mu_;
    int fd_ = -1;
  };
  Result<Locked> Lock();

  // `<root>/snapshots/<id>` and its `fs`.
  std::string SnapshotDir(uint64_t id) const;
  std::string FsDir(uint64_t id) const;
  const std::string& root() const { return root_; }

  // Makes the contents of the new snapshot directory `SnapshotDir(r.id)` (which exists, empty).
  // `parents` runs from the immediate parent down to the base.
  virtual Status CreateDirs(const Record& r, const std::vector<const Record*>& parents) = 0;
  virtual Result<std::vector<Mount>> MountsOf(const Record& r,
                                              const std::vector<const Record*>& parents) = 0;
  virtual WritableDir WritableOf(const Record& r) = 0;
  virtual Status DiffOf(const Record& r, const std::vector<const Record*>& parents,
                        archive::TarWriter* out, const archive::DiffOptions& options) = 0;
  // Whether PrepareLayer keeps changes in memory (Tree::kMemory) rather than in `fs`.
  virtual bool LayersInMemory() const { return false; }
  // Called by Commit without the lock held, on a copy of the active snapshot's record: turns
  // what it holds into its committed form (writes a layer image).
  virtual Status BeforeCommit(const Record&) { return OkStatus(); }
  // Called by Commit before the metadata is saved: sets how the committed tree is stored.
  virtual Status CommitTree(Record&) { return OkStatus(); }
  // Called before a removed snapshot's directory is deleted (undo its mounts).
  virtual void ReleaseTree(const Record&) {}
  // The path whose disk usage is the snapshot's (default: its `fs`).
  virtual std::string UsagePath(const Record& r) { return FsDir(r.id); }

 private:
  Result<std::vector<Mount>> Create(Kind kind, const std::string& key, const std::string& parent,
                                    const Labels& labels, Tree tree = Tree::kDirectory);
  Result<const Record*> Find(const std::string& key) const;
  std::vector<const Record*> ParentsOf(const Record& r) const;
  // Records `change` (already made to metadata_): appends it to the journal, or, the first
  // time on a root whose metadata.json predates the journal, rewrites metadata.json.
  Status Save(const MetadataChange& change);
  // Writes metadata_ to metadata.json and empties the journal.
  Status Compact();
  // Tells the other processes that the metadata is about to change (metadata.lock).
  Status NextGeneration();
  Status Repair();

  const std::string root_;
  const std::string driver_;
  UniqueFd lock_fd_;
  UniqueFd meta_lock_fd_;
  UniqueFd journal_fd_;
  std::mutex mu_;
  // Guarded by mu_: the metadata as of generation_ and epoch_, and how much of the journal it
  // holds (bytes and lines).
  Metadata metadata_;
  uint64_t generation_ = 0;
  uint64_t epoch_ = 0;
  uint64_t journal_bytes_ = 0;
  uint64_t journal_lines_ = 0;
};

Error SnapshotError(Code code, const std::string& key, const std::string& problem);

}  // namespace hoist::snapshot::internal
