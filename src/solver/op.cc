#include "solver/op.h"

#include <utility>

namespace hoist::solver {

ResultRef::Holder::~Holder() {
  if (release) release(id);
}

ResultRef ResultRef::Adopt(std::string id, Releaser release) {
  ResultRef r;
  r.holder_ = std::make_shared<const Holder>(Holder{std::move(id), std::move(release)});
  return r;
}

}  // namespace hoist::solver
