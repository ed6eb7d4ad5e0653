#include "base/host.h"

#include <fstream>

namespace hoist {

std::string BootId() {
  std::string id;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> id;
  return id;
}

}  // namespace hoist
