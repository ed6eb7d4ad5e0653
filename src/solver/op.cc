#include "solver/op.h"

#include <utility>

namespace hoist::solver {

ResultRef::Holder::~Holder() {
  if (release) release(id);
}

ResultRef ResultRef::Adopt(std::string id, Releaser release) {
  // Built in place: a temporary Holder would run `release` when it died.
  auto holder = std::make_shared<Holder>();
  holder->id = std::move(id);
  holder->release = std::move(release);
  ResultRef r;
  r.holder_ = std::move(holder);
  return r;
}

}  // namespace hoist::solver
