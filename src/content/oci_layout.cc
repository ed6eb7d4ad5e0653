#include "content/oci_layout.h"

#include <algorithm>
#include <mutex>
#include <set>
#include <unordered_set>

#include "base/atomic_file.h"
#include "base/parallel.h"
#include "content/local_content_store.h"
#include "content/oci_tar_store.h"
#include "oci/image_layout.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "oci/ref_name.h"
#include "oci/reference.h"

namespace hoist::content {
namespace {

std::string LayoutFileContent() { return oci::SerializeImageLayout(oci::ImageLayout{}); }

// Writes the oci-layout file unless it already says what it should: every index update would
// otherwise sync a new copy and the directory again.
Status EnsureLayoutFile(FileSystem* fs, const std::string& dir) {
  const std::string path = JoinPath(dir, "oci-layout");
  const std::string want = LayoutFileContent();
  if (auto have = fs->ReadFile(path, 4096); have && *have == want) return OkStatus();
  return WriteFileAtomic(fs, path, want);
}

constexpr int64_t kMaxIndexSize = 64 << 20;     // index.json
constexpr int64_t kMaxManifestSize = 16 << 20;  // manifests and indexes reached from it

Error NotALayout(const std::string& display, std::string_view why) {
  return Error(Code::kInvalidArgument, display + ": not an OCI image layout: " + std::string(why));
}

// Checks the `oci-layout` file: {"imageLayoutVersion":"1.0.0"}.
Status CheckLayoutFile(const std::string& display, std::string_view content) {
  auto layout = oci::ParseImageLayout(content);
  if (!layout) return Unexpected(NotALayout(display, "oci-layout file: " + layout.error().message()));
  return {};
}

std::string Annotation(const oci::Descriptor& d, std::string_view key) {
  auto it = d.annotations.find(std::string(key));
  return it == d.annotations.end() ? std::string() : it->second;
}

bool IsIndexOrManifest(const std::string& media_type) {
  return oci::IsIndexType(media_type) || oci::IsManifestType(media_type);
}

}  // namespace

Result<LayoutName> LayoutName::Parse(std::string_view s) {
  if (s.empty()) return MakeError(Code::kInvalidArgument, "empty image name");
  if (s.find_first_of("/:@") == std::string_view::npos) {
    if (!oci::IsValidRefName(s)) {
      return MakeError(Code::kInvalidArgument, "invalid tag \"" + std::string(s) + "\"");
    }
    return LayoutName{"", std::string(s)};
  }
  HOIST_ASSIGN_OR_RETURN(oci::Reference ref, oci::ParseNormalizedNamed(s));
  if (ref.has_digest() && !ref.has_tag()) {
    return MakeError(Code::kInvalidArgument,
                     "invalid image name \"" + std::string(s) + "\": a layout name needs a tag, not a digest");
  }
  oci::Reference tagged = oci::TagNameOnly(ref);
  return LayoutName{tagged.String(), tagged.tag()};
}

OciLayout::~OciLayout() {
  // Writes go through <layout>/ingest; leave no empty ingest dir behind in the user's layout.
  // Removing fails harmlessly while another writer still has files there.
  if (!read_only_ && !tarball_ && fs_ != nullptr) (void)fs_->Remove(JoinPath(path_, "ingest"));
}

Result<std::unique_ptr<OciLayout>> OciLayout::OpenDirectory(FileSystem* fs, const std::string& dir,
                                                            bool read_only) {
  HOIST_ASSIGN_OR_RETURN(auto st, fs->Stat(dir));
  if (!st) return MakeError(Code::kNotFound, dir + ": no such OCI layout directory");
  HOIST_ASSIGN_OR_RETURN(auto layout_st, fs->Stat(JoinPath(dir, "oci-layout")));
  HOIST_ASSIGN_OR_RETURN(auto index_st, fs->Stat(JoinPath(dir, "index.json")));
  if (layout_st) {
    HOIST_ASSIGN_OR_RETURN(std::string layout_file,
                           fs->ReadFile(JoinPath(dir, "oci-layout"), 4096));
    HOIST_TRY(CheckLayoutFile(dir, layout_file));
  } else if (!read_only || !index_st) {
    // BuildKit's clients write layouts without the file (index.json and blobs/ only); those
    // are read, never written to.
    return Unexpected(NotALayout(dir, "missing oci-layout file"));
  }
  if (!index_st) return Unexpected(NotALayout(dir, "missing index.json"));

  auto layout = std::unique_ptr<OciLayout>(new OciLayout());
  layout->fs_ = fs;
  layout->path_ = dir;
  layout->read_only_ = read_only;
  // Validate index.json first so that a broken layout is refused before anything is touched.
  HOIST_TRY(layout->ReadIndex());
  LocalContentStoreOptions opts;
  opts.read_only = read_only;
  // UpdateIndex syncs the new blobs' names once, before index.json can refer to them.
  opts.defer_dir_sync = true;
  HOIST_ASSIGN_OR_RETURN(layout->store_, LocalContentStore::Open(fs, dir, opts));
  return layout;
}

Result<std::unique_ptr<OciLayout>> OciLayout::CreateOrOpen(FileSystem* fs, const std::string& dir) {
  HOIST_ASSIGN_OR_RETURN(auto st, fs->Stat(dir));
  if (st && st->type != FileInfo::Type::kDirectory) {
    return MakeError(Code::kInvalidArgument, dir + ": exists and is not a directory");
  }
  HOIST_ASSIGN_OR_RETURN(bool has_layout_file, fs->Exists(JoinPath(dir, "oci-layout")));
  if (!has_layout_file) {
    if (st) {
      HOIST_ASSIGN_OR_RETURN(auto names, fs->ListDir(dir));
      for (const auto& n : names) {
        // What another writer creating the layout right now may have made so far (its
        // oci-layout file too, if it appeared after the check above).
        const bool creating = n.starts_with(".index.json.tmp-") ||
                              n.starts_with(".oci-layout.tmp-") || n == "oci-layout";
        if (n != "blobs" && n != "index.json" && n != "index.json.lock" && n != "ingest" &&
            !creating) {
          return Unexpected(NotALayout(dir, "directory is not empty and has no oci-layout file"));
        }
      }
    }
    HOIST_TRY(fs->MakeDirs(JoinPath(dir, "blobs")));
    // Under the index lock: a writer that creates the layout at the same moment as another
    // adds its tag must not then replace that index.json with an empty one.
    HOIST_ASSIGN_OR_RETURN(auto lock, fs->Lock(JoinPath(dir, "index.json.lock"),
                                               /*remove_on_release=*/true));
    HOIST_ASSIGN_OR_RETURN(bool has_index, fs->Exists(JoinPath(dir, "index.json")));
    if (!has_index) {
      oci::Index empty;
      empty.schema_version = 2;
      empty.media_type = std::string(oci::kMediaTypeImageIndex);
      HOIST_TRY(WriteFileAtomic(fs, JoinPath(dir, "index.json"), oci::SerializeIndex(empty)));
    }
    HOIST_TRY(WriteFileAtomic(fs, JoinPath(dir, "oci-layout"), LayoutFileContent()));
  }
  return OpenDirectory(fs, dir, /*read_only=*/false);
}

Result<std::unique_ptr<OciLayout>> OciLayout::OpenTarball(FileSystem* fs, const std::string& path) {
  HOIST_ASSIGN_OR_RETURN(auto tar, OpenOciTarStore(fs, path));
  HOIST_TRY(CheckLayoutFile(path, tar->oci_layout_file()));
  auto layout = std::unique_ptr<OciLayout>(new OciLayout());
  layout->fs_ = fs;
  layout->path_ = path;
  layout->read_only_ = true;
  layout->tarball_ = true;
  layout->tar_index_json_ = tar->index_json();
  layout->store_ = std::move(tar);
  HOIST_TRY(layout->ReadIndex());
  return layout;
}

Result<std::unique_ptr<OciLayout>> OciLayout::Open(FileSystem* fs, const std::string& path,
                                                   bool read_only) {
  HOIST_ASSIGN_OR_RETURN(auto st, fs->Stat(path));
  if (!st) return MakeError(Code::kNotFound, path + ": no such OCI layout directory or tarball");
  bool is_file = st->type == FileInfo::Type::kRegular;
  if (st->type == FileInfo::Type::kSymlink) {
    // Stat does not follow the link; `path/.` exists only when it leads to a directory.
    HOIST_ASSIGN_OR_RETURN(auto through, fs->Stat(path + "/."));
    is_file = !through.has_value();
  }
  if (is_file) {
    if (!read_only) {
      return MakeError(Code::kInvalidArgument, path + ": OCI layout tarballs are read-only");
    }
    return OpenTarball(fs, path);
  }
  return OpenDirectory(fs, path, read_only);
}

Result<oci::Index> OciLayout::ReadIndex() {
  std::string data;
  if (tarball_) {
    data = tar_index_json_;
  } else {
    auto r = fs_->ReadFile(JoinPath(path_, "index.json"), kMaxIndexSize);
    if (!r) return Unexpected(std::move(r).error().Wrap(path_));
    data = std::move(*r);
  }
  auto index = oci::ParseIndex(data);
  if (!index) return Unexpected(std::move(index).error().Wrap(path_ + ": index.json"));
  return index;
}

Result<std::optional<oci::Descriptor>> OciLayout::FindTag(std::string_view tag) {
  HOIST_ASSIGN_OR_RETURN(oci::Index index, ReadIndex());
  for (const auto& m : index.manifests) {
    if (Annotation(m, kAnnotationImageName) == tag) return std::optional<oci::Descriptor>(m);
  }
  for (const auto& m : index.manifests) {
    if (Annotation(m, kAnnotationRefName) == tag) return std::optional<oci::Descriptor>(m);
  }
  if (tag.find_first_of("/:") != std::string_view::npos) {
    if (auto name = LayoutName::Parse(tag); name && !name->image_name.empty()) {
      for (const auto& m : index.manifests) {
        if (Annotation(m, kAnnotationImageName) == name->image_name) {
          return std::optional<oci::Descriptor>(m);
        }
      }
    }
  }
  return std::optional<oci::Descriptor>();
}

Result<oci::Descriptor> OciLayout::ResolveTag(std::string_view tag, bool single_fallback) {
  HOIST_ASSIGN_OR_RETURN(auto found, FindTag(tag));
  if (found) return *found;
  if (single_fallback) {
    HOIST_ASSIGN_OR_RETURN(oci::Index index, ReadIndex());
    if (index.manifests.size() == 1) return index.manifests[0];
  }
  return MakeError(Code::kNotFound, path_ + ": no image tagged \"" + std::string(tag) + "\"");
}

Result<oci::Descriptor> OciLayout::ResolveDigest(const oci::Digest& digest) {
  HOIST_ASSIGN_OR_RETURN(oci::Index index, ReadIndex());
  for (const auto& m : index.manifests) {
    if (m.digest == digest) return m;
  }
  HOIST_ASSIGN_OR_RETURN(BlobInfo info, store_->Info(digest));
  oci::Descriptor desc;
  desc.digest = digest;
  desc.size = info.size;
  desc.media_type = "";
  if (info.size <= kMaxManifestSize) {
    HOIST_ASSIGN_OR_RETURN(std::string blob, ReadBlob(*store_, desc, kMaxManifestSize));
    desc.media_type = oci::SniffMediaType(blob);
  }
  return desc;
}

template <typename Fn>
Status OciLayout::UpdateIndex(Fn&& mutate) {
  if (read_only_) {
    return MakeError(Code::kPermissionDenied, path_ + ": OCI layout is opened read-only");
  }
  HOIST_ASSIGN_OR_RETURN(auto lock, fs_->Lock(JoinPath(path_, "index.json.lock"),
                                              /*remove_on_release=*/true));
  oci::Index index;
  HOIST_ASSIGN_OR_RETURN(bool has_index, fs_->Exists(JoinPath(path_, "index.json")));
  if (has_index) {
    HOIST_ASSIGN_OR_RETURN(index, ReadIndex());
  }
  if (index.schema_version == 0) index.schema_version = 2;
  if (index.media_type.empty()) index.media_type = std::string(oci::kMediaTypeImageIndex);
  HOIST_TRY(mutate(index));
  // A directory's store (a tarball's is read-only, refused above).
  if (auto* dir = dynamic_cast<LocalContentStore*>(store_.get())) {
    HOIST_TRY(dir->SyncCommitted());
  }
  HOIST_TRY(EnsureLayoutFile(fs_, path_));
  return WriteFileAtomic(fs_, JoinPath(path_, "index.json"), oci::SerializeIndex(index));
}

std::vector<oci::Descriptor> NamedIndexEntries(const oci::Descriptor& desc,
                                               const std::vector<LayoutName>& names) {
  std::vector<LayoutName> effective = names;
  if (effective.empty()) effective.push_back(LayoutName{"", "latest"});
  std::vector<oci::Descriptor> entries;
  for (const auto& name : effective) {
    oci::Descriptor entry = desc;
    if (!name.image_name.empty()) {
      entry.annotations[std::string(kAnnotationImageName)] = name.image_name;
    } else {
      entry.annotations.erase(std::string(kAnnotationImageName));
    }
    entry.annotations[std::string(kAnnotationRefName)] = name.ref_name;
    entries.push_back(std::move(entry));
  }
  return entries;
}

Status OciLayout::Put(const oci::Descriptor& desc, const std::vector<LayoutName>& names) {
  return UpdateIndex([&](oci::Index& index) -> Status {
    for (oci::Descriptor& entry : NamedIndexEntries(desc, names)) {
      const std::string ref_name = Annotation(entry, kAnnotationRefName);
      const std::string image_name = Annotation(entry, kAnnotationImageName);
      std::erase_if(index.manifests, [&](const oci::Descriptor& m) {
        return Annotation(m, kAnnotationRefName) == ref_name &&
               Annotation(m, kAnnotationImageName) == image_name;
      });
      index.manifests.push_back(std::move(entry));
    }
    return OkStatus();
  });
}

Status OciLayout::Untag(std::string_view tag) {
  return UpdateIndex([&](oci::Index& index) -> Status {
    std::string normalized;
    if (tag.find_first_of("/:") != std::string_view::npos) {
      if (auto n = LayoutName::Parse(tag); n) normalized = n->image_name;
    }
    // A full name removes that name; a bare tag removes every entry carrying it as ref name.
    const bool bare_tag = tag.find_first_of("/:@") == std::string_view::npos;
    size_t removed = std::erase_if(index.manifests, [&](const oci::Descriptor& m) {
      std::string image = Annotation(m, kAnnotationImageName);
      if (image == tag || (!normalized.empty() && image == normalized)) return true;
      return bare_tag && Annotation(m, kAnnotationRefName) == tag;
    });
    if (removed == 0) {
      return MakeError(Code::kNotFound, path_ + ": no image tagged \"" + std::string(tag) + "\"");
    }
    return OkStatus();
  });
}

Result<std::vector<oci::Descriptor>> OciLayout::Reachable(std::vector<VerifyProblem>* problems) {
  HOIST_ASSIGN_OR_RETURN(oci::Index index, ReadIndex());
  return ReachableFrom(*store_, index.manifests, problems);
}

Result<std::vector<oci::Descriptor>> ReachableFrom(ContentStore& store,
                                                   const std::vector<oci::Descriptor>& roots,
                                                   std::vector<VerifyProblem>* problems) {
  std::vector<oci::Descriptor> out;
  std::unordered_set<oci::Digest> seen;
  std::vector<oci::Descriptor> stack(roots.rbegin(), roots.rend());
  while (!stack.empty()) {
    oci::Descriptor d = std::move(stack.back());
    stack.pop_back();
    if (!seen.insert(d.digest).second) continue;
    out.push_back(d);
    std::string media_type = d.media_type;
    bool maybe_parent = IsIndexOrManifest(media_type) || !oci::IsLayerType(media_type);
    if (!maybe_parent || oci::IsConfigType(media_type) || d.size > kMaxManifestSize) continue;
    auto blob = ReadBlob(store, d, kMaxManifestSize);
    if (!blob) {
      if (problems != nullptr && IsIndexOrManifest(media_type)) {
        problems->push_back({d.digest, blob.error().message()});
      }
      continue;
    }
    if (media_type.empty() || !IsIndexOrManifest(media_type)) {
      media_type = oci::SniffMediaType(*blob);
    }
    if (oci::IsIndexType(media_type)) {
      auto child = oci::ParseIndex(*blob);
      if (!child) {
        if (problems) problems->push_back({d.digest, child.error().message()});
        continue;
      }
      for (auto it = child->manifests.rbegin(); it != child->manifests.rend(); ++it) {
        stack.push_back(*it);
      }
      if (child->subject) stack.push_back(*child->subject);
    } else if (oci::IsManifestType(media_type)) {
      auto m = oci::ParseManifest(*blob);
      if (!m) {
        if (problems) problems->push_back({d.digest, m.error().message()});
        continue;
      }
      for (auto it = m->layers.rbegin(); it != m->layers.rend(); ++it) stack.push_back(*it);
      stack.push_back(m->config);
      if (m->subject) stack.push_back(*m->subject);
    }
  }
  return out;
}

Result<int64_t> CopyImage(ContentStore& from, ContentStore& to, const oci::Descriptor& root,
                           CancelContext* cancel) {
  std::vector<VerifyProblem> problems;
  HOIST_ASSIGN_OR_RETURN(auto reachable, ReachableFrom(from, {root}, &problems));
  if (!problems.empty()) {
    return MakeError(Code::kDataLoss, problems[0].digest.str() + ": " + problems[0].problem);
  }
  int64_t copied = 0;
  for (auto it = reachable.rbegin(); it != reachable.rend(); ++it) {
    if (cancel != nullptr) HOIST_TRY(cancel->Check());
    if (!it->urls.empty()) {
      auto info = from.Info(it->digest);
      if (!info && info.error().code() == Code::kNotFound) continue;  // foreign layer
    }
    auto existing = to.Info(it->digest);
    if (existing) continue;
    HOIST_TRY(CopyBlob(from, to, *it, cancel));
    copied += it->size;
  }
  return copied;
}

Result<VerifyReport> OciLayout::Verify(int threads) {
  VerifyReport report;
  HOIST_ASSIGN_OR_RETURN(auto reachable, Reachable(&report.problems));
  std::mutex mu;
  // Every blob is read, whatever the others' problems: the report lists them all.
  HOIST_TRY(
      ParallelFor(reachable.size(), threads, nullptr, [&](size_t i, CancelContext*) -> Status {
        const oci::Descriptor& d = reachable[i];
        auto info = store_->Info(d.digest);
        if (!info) {
          if (info.error().code() == Code::kNotFound && !d.urls.empty()) {
            return OkStatus();  // a foreign layer
          }
          std::lock_guard<std::mutex> l(mu);
          report.problems.push_back({d.digest, info.error().code() == Code::kNotFound
                                                   ? "missing"
                                                   : info.error().message()});
          return OkStatus();
        }
        Status st = ReadVerified(*store_, d, [](std::string_view) { return OkStatus(); });
        std::lock_guard<std::mutex> l(mu);
        report.blobs++;
        report.bytes += d.size;
        if (!st) report.problems.push_back({d.digest, st.error().message()});
        return OkStatus();
      }));
  std::sort(report.problems.begin(), report.problems.end(),
            [](const VerifyProblem& a, const VerifyProblem& b) { return a.digest < b.digest; });
  return report;
}

Result<GcReport> OciLayout::CollectGarbage(bool dry_run) {
  if (read_only_) {
    return MakeError(Code::kPermissionDenied, path_ + ": OCI layout is opened read-only");
  }
  HOIST_ASSIGN_OR_RETURN(auto lock, fs_->Lock(JoinPath(path_, "index.json.lock"),
                                              /*remove_on_release=*/true));
  std::vector<VerifyProblem> problems;
  HOIST_ASSIGN_OR_RETURN(auto reachable, Reachable(&problems));
  if (!problems.empty()) {
    // A manifest we could not read may reach blobs we would wrongly delete.
    return MakeError(Code::kFailedPrecondition,
                     path_ + ": refusing to collect garbage: " + problems[0].digest.str() + ": " +
                         problems[0].problem);
  }
  std::unordered_set<oci::Digest> keep;
  for (const auto& d : reachable) keep.insert(d.digest);
  GcReport report;
  HOIST_TRY(store_->Walk([&](const BlobInfo& info) -> Status {
    if (!keep.contains(info.digest)) {
      report.removed.push_back(info);
      report.bytes += info.size;
    }
    return OkStatus();
  }));
  std::sort(report.removed.begin(), report.removed.end(),
            [](const BlobInfo& a, const BlobInfo& b) { return a.digest < b.digest; });
  if (!dry_run) {
    for (const auto& b : report.removed) HOIST_TRY(store_->Delete(b.digest));
  }
  return report;
}

}  // namespace hoist::content
