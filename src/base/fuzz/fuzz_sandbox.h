// The sandbox of the fuzz targets that write files (layer apply, the diffcopy receivers): a
// directory the process chroots into when it runs as root, so that whatever a bug might reach
// stays inside it, laid out as
//
//   /            sentinel files: etc/passwd, secret, sentinel/hello, a symlink, a hardlink
//   /a, /a/b     the same sentinels, one and two levels up from the root
//   /a/b/root    the directory each input writes into
//
// After every input, CheckUntouched() aborts unless everything outside the root is exactly as
// before (names, types, modes, owners, link counts, sizes, contents, link targets);
// FreshRoot() then replaces the root by an empty directory.
//
// The sandbox is $HOIST_FUZZ_SANDBOX (created if missing) or a new directory under /tmp. As
// root it is a tmpfs in a private mount namespace, with a read-only /proc for LeakSanitizer.
// After the chroot, corpus and artifact paths given to libFuzzer must be relative.
//
// Thread-safety: one thread (libFuzzer runs inputs one at a time).
#pragma once

#include <string>

namespace hoist::fuzz {

// Sets the sandbox up; call once, from LLVMFuzzerInitialize. `name` goes into the /tmp path.
void InitSandbox(const char* name);
// The root inputs write into (absolute, in the process's view).
const std::string& SandboxRoot();
// Aborts, listing what changed, when anything outside the root differs from the start.
void CheckUntouched();
// Replaces the root by an empty directory.
void FreshRoot();

}  // namespace hoist::fuzz
