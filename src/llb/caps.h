// Capability and attribute names of LLB, spelled exactly as BuildKit spells them
// (solver/pb/caps.go and attr.go), misspellings included: they are wire identifiers.
//
// A cap in OpMetadata.caps says which solver feature an op needs; a source attr configures
// a source op. Thread-safety: constants.
#pragma once

#include <string_view>
#include <vector>

namespace hoist::llb {

// Capabilities.
inline constexpr std::string_view kCapSourceImage = "source.image";
inline constexpr std::string_view kCapSourceImageResolveMode = "source.image.resolvemode";
inline constexpr std::string_view kCapSourceImageLayerLimit = "source.image.layerlimit";
inline constexpr std::string_view kCapSourceImageChecksum = "source.image.checksum";
inline constexpr std::string_view kCapSourceLocal = "source.local";
inline constexpr std::string_view kCapSourceLocalUnique = "source.local.unique";
inline constexpr std::string_view kCapSourceLocalSessionID = "source.local.sessionid";
inline constexpr std::string_view kCapSourceLocalIncludePatterns = "source.local.includepatterns";
inline constexpr std::string_view kCapSourceLocalFollowPaths = "source.local.followpaths";
inline constexpr std::string_view kCapSourceLocalExcludePatterns = "source.local.excludepatterns";
inline constexpr std::string_view kCapSourceLocalSharedKeyHint = "source.local.sharedkeyhint";
inline constexpr std::string_view kCapSourceLocalDiffer = "source.local.differ";
inline constexpr std::string_view kCapSourceMetadataTransfer = "source.local.metadatatransfer";
inline constexpr std::string_view kCapSourceGit = "source.git";
inline constexpr std::string_view kCapSourceGitKeepDir = "source.git.keepgitdir";
inline constexpr std::string_view kCapSourceGitFullURL = "source.git.fullurl";
inline constexpr std::string_view kCapSourceGitHTTPAuth = "source.git.httpauth";
inline constexpr std::string_view kCapSourceGitKnownSSHHosts = "source.git.knownsshhosts";
inline constexpr std::string_view kCapSourceGitMountSSHSock = "source.git.mountsshsock";
inline constexpr std::string_view kCapSourceGitChecksum = "source.git.checksum";
inline constexpr std::string_view kCapSourceGitSkipSubmodules = "source.git.skipsubmodules";
inline constexpr std::string_view kCapSourceGitMTime = "source.git.mtime";
inline constexpr std::string_view kCapSourceGitFetchByCommit = "source.git.fetchbycommit";
inline constexpr std::string_view kCapSourceHTTP = "source.http";
inline constexpr std::string_view kCapSourceHTTPAuth = "source.http.auth";
inline constexpr std::string_view kCapSourceHTTPChecksum = "source.http.checksum";
inline constexpr std::string_view kCapSourceHTTPPerm = "source.http.perm";
// Sic: BuildKit's identifier carries this typo.
inline constexpr std::string_view kCapSourceHTTPUIDGID = "soruce.http.uidgid";
inline constexpr std::string_view kCapSourceHTTPHeader = "source.http.header";
inline constexpr std::string_view kCapSourceOCILayout = "source.ocilayout";
inline constexpr std::string_view kCapExecMetaBase = "exec.meta.base";
inline constexpr std::string_view kCapExecMetaCgroupParent = "exec.meta.cgroup.parent";
inline constexpr std::string_view kCapExecMetaNetwork = "exec.meta.network";
inline constexpr std::string_view kCapExecMetaProxy = "exec.meta.proxyenv";
inline constexpr std::string_view kCapExecMetaSecurity = "exec.meta.security";
inline constexpr std::string_view kCapExecMetaUlimit = "exec.meta.ulimit";
inline constexpr std::string_view kCapExecMountBind = "exec.mount.bind";
inline constexpr std::string_view kCapExecMountCache = "exec.mount.cache";
inline constexpr std::string_view kCapExecMountCacheSharing = "exec.mount.cache.sharing";
inline constexpr std::string_view kCapExecMountSelector = "exec.mount.selector";
inline constexpr std::string_view kCapExecMountTmpfs = "exec.mount.tmpfs";
inline constexpr std::string_view kCapExecMountTmpfsSize = "exec.mount.tmpfs.size";
inline constexpr std::string_view kCapExecMountSecret = "exec.mount.secret";
inline constexpr std::string_view kCapExecMountSSH = "exec.mount.ssh";
inline constexpr std::string_view kCapExecMountContentCache = "exec.mount.cache.content";
inline constexpr std::string_view kCapExecSecretEnv = "exec.secretenv";
inline constexpr std::string_view kCapExecValidExitCode = "exec.validexitcode";
inline constexpr std::string_view kCapFileBase = "file.base";
inline constexpr std::string_view kCapFileRmWildcard = "file.rm.wildcard";
inline constexpr std::string_view kCapFileCopyIncludeExcludePatterns =
    "file.copy.includeexcludepatterns";
inline constexpr std::string_view kCapFileCopyRequiredPaths = "file.copy.requiredpaths";
inline constexpr std::string_view kCapFileCopyAlwaysReplaceExistingDestPaths =
    "file.copy.alwaysreplaceexistingdestpaths";
inline constexpr std::string_view kCapFileCopyModeStringFormat = "file.copy.modestring";
inline constexpr std::string_view kCapFileSymlinkCreate = "file.symlink.create";
inline constexpr std::string_view kCapConstraints = "constraints";
inline constexpr std::string_view kCapPlatform = "platform";
inline constexpr std::string_view kCapMetaIgnoreCache = "meta.ignorecache";
inline constexpr std::string_view kCapMetaDescription = "meta.description";
inline constexpr std::string_view kCapMetaExportCache = "meta.exportcache";
inline constexpr std::string_view kCapMergeOp = "mergeop";
inline constexpr std::string_view kCapDiffOp = "diffop";
// Caps BuildKit v0.11 knows that nothing in hoist sets; known, so that LLB naming them loads
// (the ops that need the feature refuse it themselves).
inline constexpr std::string_view kCapExecMetaCgroup = "exec.cgroup";
inline constexpr std::string_view kCapExecMetaRemoveMountStubsRecursive =
    "exec.meta.removemountstubs.recursive";
inline constexpr std::string_view kCapExecMetaSecurityDeviceWhitelistV1 =
    "exec.meta.security.devices.v1";
inline constexpr std::string_view kCapExecMetaSetsDefaultPath = "exec.meta.setsdefaultpath";
inline constexpr std::string_view kCapExecMountBindReadWriteNoOutput =
    "exec.mount.bind.readwrite-nooutput";
inline constexpr std::string_view kCapFileRmNoFollowSymlink = "file.rm.nofollowsymlink";
inline constexpr std::string_view kCapBuildOpLLBFileName = "source.buildop.llbfilename";
inline constexpr std::string_view kCapSourceGitSubdir = "source.git.subdir";
inline constexpr std::string_view kCapSourcePolicy = "source.policy";
inline constexpr std::string_view kCapRemoteCacheGHA = "cache.gha";
inline constexpr std::string_view kCapRemoteCacheS3 = "cache.s3";
inline constexpr std::string_view kCapRemoteCacheAzBlob = "cache.azblob";
inline constexpr std::string_view kCapAnnotations = "exporter.image.annotations";
inline constexpr std::string_view kCapAttestations = "exporter.image.attestations";
inline constexpr std::string_view kCapSourceDateEpoch = "exporter.sourcedateepoch";

// Whether `cap` is one of the capabilities above. The solver refuses LLB whose op metadata
// names any other, as BuildKit does (`unknown API capability <cap>`).
bool IsKnownCap(std::string_view cap);
// The capabilities an engine announces to gateway clients (LLBBridge.Ping's LLBCaps): every
// one above except what hoist does not serve: the remote cache backends (cache.gha, cache.s3,
// cache.azblob), source policies and exporter annotations. buildx reads
// `exporter.image.attestations` there to send its default provenance.
std::vector<std::string_view> ServedCaps();

// Source attributes.
inline constexpr std::string_view kAttrImageResolveMode = "image.resolvemode";
inline constexpr std::string_view kAttrImageRecordType = "image.recordtype";
inline constexpr std::string_view kAttrImageLayerLimit = "image.layerlimit";
inline constexpr std::string_view kAttrImageChecksum = "image.checksum";
inline constexpr std::string_view kAttrOCILayoutSessionID = "oci.session";
inline constexpr std::string_view kAttrOCILayoutStoreID = "oci.store";
inline constexpr std::string_view kAttrOCILayoutLayerLimit = "oci.layerlimit";
inline constexpr std::string_view kAttrLocalSessionID = "local.session";
inline constexpr std::string_view kAttrLocalUniqueID = "local.unique";
inline constexpr std::string_view kAttrIncludePatterns = "local.includepattern";
inline constexpr std::string_view kAttrFollowPaths = "local.followpaths";
inline constexpr std::string_view kAttrExcludePatterns = "local.excludepatterns";
inline constexpr std::string_view kAttrSharedKeyHint = "local.sharedkeyhint";
inline constexpr std::string_view kAttrLocalDiffer = "local.differ";
inline constexpr std::string_view kAttrMetadataTransfer = "local.metadatatransfer";
inline constexpr std::string_view kAttrMetadataTransferExclude = "local.metadatatransferexclude";
inline constexpr std::string_view kAttrKeepGitDir = "git.keepgitdir";
inline constexpr std::string_view kAttrFullRemoteURL = "git.fullurl";
inline constexpr std::string_view kAttrAuthHeaderSecret = "git.authheadersecret";
inline constexpr std::string_view kAttrAuthTokenSecret = "git.authtokensecret";
inline constexpr std::string_view kAttrKnownSSHHosts = "git.knownsshhosts";
inline constexpr std::string_view kAttrMountSSHSock = "git.mountsshsock";
inline constexpr std::string_view kAttrGitChecksum = "git.checksum";
inline constexpr std::string_view kAttrGitSkipSubmodules = "git.skipsubmodules";
inline constexpr std::string_view kAttrGitMTime = "git.mtime";
inline constexpr std::string_view kAttrGitFetchByCommit = "git.fetchbycommit";
inline constexpr std::string_view kAttrHTTPChecksum = "http.checksum";
inline constexpr std::string_view kAttrHTTPFilename = "http.filename";
inline constexpr std::string_view kAttrHTTPPerm = "http.perm";
inline constexpr std::string_view kAttrHTTPUID = "http.uid";
inline constexpr std::string_view kAttrHTTPGID = "http.gid";
inline constexpr std::string_view kAttrHTTPAuthHeaderSecret = "http.authheadersecret";
inline constexpr std::string_view kAttrHTTPHeaderPrefix = "http.header.";

// OpMetadata.description key for the name progress output shows for a vertex.
inline constexpr std::string_view kDescriptionCustomName = "llb.customname";

}  // namespace hoist::llb
