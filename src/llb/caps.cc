#include "llb/caps.h"

#include <algorithm>
#include <array>

namespace hoist::llb {

namespace {

constexpr std::array kKnown = {
      kCapSourceImage,
      kCapSourceImageResolveMode,
      kCapSourceImageLayerLimit,
      kCapSourceImageChecksum,
      kCapSourceLocal,
      kCapSourceLocalUnique,
      kCapSourceLocalSessionID,
      kCapSourceLocalIncludePatterns,
      kCapSourceLocalFollowPaths,
      kCapSourceLocalExcludePatterns,
      kCapSourceLocalSharedKeyHint,
      kCapSourceLocalDiffer,
      kCapSourceMetadataTransfer,
      kCapSourceGit,
      kCapSourceGitKeepDir,
      kCapSourceGitFullURL,
      kCapSourceGitHTTPAuth,
      kCapSourceGitKnownSSHHosts,
      kCapSourceGitMountSSHSock,
      kCapSourceGitChecksum,
      kCapSourceGitSkipSubmodules,
      kCapSourceGitMTime,
      kCapSourceGitFetchByCommit,
      kCapSourceHTTP,
      kCapSourceHTTPAuth,
      kCapSourceHTTPChecksum,
      kCapSourceHTTPPerm,
      kCapSourceHTTPUIDGID,
      kCapSourceHTTPHeader,
      kCapSourceOCILayout,
      kCapExecMetaBase,
      kCapExecMetaCgroupParent,
      kCapExecMetaNetwork,
      kCapExecMetaProxy,
      kCapExecMetaSecurity,
      kCapExecMetaUlimit,
      kCapExecMountBind,
      kCapExecMountCache,
      kCapExecMountCacheSharing,
      kCapExecMountSelector,
      kCapExecMountTmpfs,
      kCapExecMountTmpfsSize,
      kCapExecMountSecret,
      kCapExecMountSSH,
      kCapExecMountContentCache,
      kCapExecSecretEnv,
      kCapExecValidExitCode,
      kCapFileBase,
      kCapFileRmWildcard,
      kCapFileCopyIncludeExcludePatterns,
      kCapFileCopyRequiredPaths,
      kCapFileCopyAlwaysReplaceExistingDestPaths,
      kCapFileCopyModeStringFormat,
      kCapFileSymlinkCreate,
      kCapConstraints,
      kCapPlatform,
      kCapMetaIgnoreCache,
      kCapMetaDescription,
      kCapMetaExportCache,
      kCapMergeOp,
      kCapDiffOp,
      kCapExecMetaCgroup,
      kCapExecMetaRemoveMountStubsRecursive,
      kCapExecMetaSecurityDeviceWhitelistV1,
      kCapExecMetaSetsDefaultPath,
      kCapExecMountBindReadWriteNoOutput,
      kCapFileRmNoFollowSymlink,
      kCapBuildOpLLBFileName,
      kCapSourceGitSubdir,
      kCapSourcePolicy,
      kCapRemoteCacheGHA,
      kCapRemoteCacheS3,
      kCapRemoteCacheAzBlob,
      kCapAnnotations,
      kCapAttestations,
      kCapSourceDateEpoch,
  };

}  // namespace

bool IsKnownCap(std::string_view cap) {
  return std::find(kKnown.begin(), kKnown.end(), cap) != kKnown.end();
}

std::vector<std::string_view> ServedCaps() {
  std::vector<std::string_view> out;
  for (std::string_view c : kKnown) {
    if (c != kCapRemoteCacheGHA && c != kCapRemoteCacheS3 && c != kCapRemoteCacheAzBlob &&
        c != kCapSourcePolicy && c != kCapAnnotations) {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace hoist::llb
