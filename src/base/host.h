// Facts about the running host that outlive one process but not a reboot.
//
// Thread-safety: functions are thread-safe.
#pragma once

#include <string>

namespace hoist {

// The kernel's ID of this boot (/proc/sys/kernel/random/boot_id), "" when unreadable. What a
// probe of the kernel or the cgroup setup found holds until it changes.
std::string BootId();

}  // namespace hoist
