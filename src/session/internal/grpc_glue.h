// What the session's gRPC code shares: status conversion, metadata access and the names of
// the metadata keys BuildKit's session uses. gRPC types are only declared here; the .cc files
// that use these include grpcpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace grpc {
class Status;
class ServerContext;
}  // namespace grpc

namespace hoist::session::internal {

// Metadata keys (lowercase, as gRPC carries them).
inline constexpr char kStoreIdKey[] = "buildkit-attachable-store-id";
inline constexpr char kDirNameKey[] = "dir-name";
inline constexpr char kIncludePatternsKey[] = "include-patterns";
inline constexpr char kExcludePatternsKey[] = "exclude-patterns";
inline constexpr char kFollowPathsKey[] = "followpaths";
inline constexpr char kOverrideExcludesKey[] = "override-excludes";
inline constexpr char kExporterMetaPrefix[] = "exporter-md-";
// hoist's own, ignored by BuildKit's peers: what a FileSend call carries, "file" or "dir", so
// that a client with the other kind of output attached refuses it at once. "file" also says
// that the engine ends a complete file with an empty message before closing its side, so the
// client never mistakes a cancelled transfer for a finished one (a gRPC server cannot otherwise
// tell the two apart without a race).
inline constexpr char kOutputKindKey[] = "hoist-output";

// Content stores as BuildKit's client names them.
inline constexpr char kOciStorePrefix[] = "oci:";
inline constexpr char kExportStoreId[] = "export";
inline constexpr char kCacheStorePrefix[] = "local:";

// Method URLs the engine checks before calling.
inline constexpr char kFileSyncDiffCopy[] = "/moby.filesync.v1.FileSync/DiffCopy";
// hoist's own: the same, several packets per message (api/session/batch.proto).
inline constexpr char kBatchedDiffCopy[] = "/hoist.filesync.v1.BatchedFileSync/DiffCopy";
inline constexpr char kBatchedFileSend[] = "/hoist.filesync.v1.BatchedFileSend/DiffCopy";
inline constexpr char kFileSendDiffCopy[] = "/moby.filesync.v1.FileSend/DiffCopy";
inline constexpr char kAuthCredentials[] = "/moby.filesync.v1.Auth/Credentials";
inline constexpr char kContentInfo[] = "/containerd.services.content.v1.Content/Info";
inline constexpr char kContentRead[] = "/containerd.services.content.v1.Content/Read";

// hoist's codes are gRPC's.
grpc::Status ToGrpcStatus(const Error& e);
Error FromGrpcStatus(const grpc::Status& s);

// The values of a request's metadata key, in order.
std::vector<std::string> MetadataValues(const grpc::ServerContext& context, std::string_view key);
// Its first value, or "".
std::string MetadataValue(const grpc::ServerContext& context, std::string_view key);

// A path or name as an fsutil include pattern or follow path that matches only itself:
// wildcard characters and a leading '!' are escaped.
std::string LiteralPattern(std::string_view path);

// gRPC carries only printable ASCII in metadata values (C++ gRPC aborts on anything else), but
// patterns and paths may hold any bytes. MetadataSafe says whether `value` can be sent as is;
// WidenPattern makes a pattern that can, matching at least what `pattern` matches: each other
// character (a UTF-8 sequence, or a byte that is not one) becomes '?', which fsutil matches
// against one character, and a backslash escaping it goes too.
bool MetadataSafe(std::string_view value);
std::string WidenPattern(std::string_view pattern);

}  // namespace hoist::session::internal
