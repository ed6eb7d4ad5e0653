#include "executor/executor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace hoist::executor {

Error ExitCodeError(const std::vector<std::string>& args, int exit_code) {
  return Error(Code::kUnknown,
               fmt::format("process \"{}\" did not complete successfully: exit code: {}",
                           fmt::join(args, " "), exit_code));
}

}  // namespace hoist::executor
