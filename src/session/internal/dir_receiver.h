// The receiving side of fsutil's diffcopy protocol, as the client runs it for an export to its
// output directory (BuildKit's local exporter with fsutil's Receive and Merge): what the engine
// sends is untrusted. ConfinedDirWriter writes entries below the destination only:
//  - every path is checked (relative, clean, no NUL) and the walk order enforced (WalkOrder):
//    an entry's parent must have come before it as a directory, so no entry is ever written
//    through a symlink or a file the stream created;
//  - every access goes through descriptors opened component by component with O_NOFOLLOW from
//    the destination's own descriptor, so symlinks already in the destination are not followed
//    either: one in the way is replaced, never written through;
//  - what is written belongs to the client's user (owners in the stream are ignored, as
//    BuildKit's client does), without set-user/group-ID bits; devices and sockets are skipped;
//  - entries already in the destination stay unless the stream replaces them (merge);
//  - directory modes and times are set last, deepest first, so a read-only directory is
//    still filled.
// Errors name paths inside the destination only, never the destination itself.
//
// Thread-safety: one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/cancel.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "session/internal/fsutil_wire.h"
#include "session/internal/packet_stream.h"
#include "session/session.h"

namespace hoist::session::internal {

class ConfinedDirWriter {
 public:
  // Opens `dest`, creating it (and its parents, mode 0755) when missing.
  static Result<std::unique_ptr<ConfinedDirWriter>> Open(const std::string& dest);

  // Creates one entry: a directory (kept if one is there), a symlink, a hard link to an earlier
  // regular file, an empty regular file (to be filled with OpenData), a FIFO. Anything else in
  // the way is removed first.
  Status Add(const FileEntry& e);
  // Opens the regular file `path`, which Add created, for its contents.
  Result<UniqueFd> OpenData(const std::string& path);
  // Sets a filled file's mode and time.
  Status FinishData(int fd, const FileEntry& e);
  // Sets the directories' modes and times. Call once, after everything else.
  Status Finish();

 private:
  struct Level {
    std::string path;  // "" for the root
    UniqueFd fd;
  };
  explicit ConfinedDirWriter(UniqueFd root);
  // The directory `dir` ("" for the root) opened below the root without following symlinks.
  Result<UniqueFd> OpenDirBelow(const std::string& dir, int flags);

  UniqueFd root_;
  WalkOrder order_;
  std::vector<Level> chain_;     // the directories from the root to the last one added
  std::vector<FileEntry> dirs_;  // for Finish
};

// Receives a tree over `stream` into `writer` as fsutil's receiver does: takes the walk, asks
// for the regular files' contents (several at a time), then ends with FIN. Errors are also
// sent to the sender as ERR. Requests are sent with `more`, so `stream` must send what it holds
// back before its Recv waits (a stream that holds nothing back, or a BatchedPacketStream made
// with `one_thread`).
Status ReceiveTree(PacketStream& stream, ConfinedDirWriter& writer,
                   CancelContext* cancel = nullptr);

// Writes the tree `dir` (a ClientDir on this machine) into `writer` directly, with the same
// checks, for the in-process transport.
Status CopyTree(ClientDir& dir, ConfinedDirWriter& writer, CancelContext* cancel = nullptr);

}  // namespace hoist::session::internal
