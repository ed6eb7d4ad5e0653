// ParallelFor: a few workers over an index range, for I/O-bound or per-item CPU work (blob
// transfers, verification, layer compression). The calling thread is one of the workers.
//
// Thread-safety: fn is called from several threads at once; it synchronises what it shares.
#pragma once

#include <cstddef>
#include <functional>

#include "base/cancel.h"
#include "base/error.h"

namespace hoist {

// Calls fn(i, cancel) for every i in [0, n) on up to `threads` threads. The first error
// cancels the context fn receives (a child of `parent`, when given) and is returned once every
// worker has stopped; items not started by then are skipped. With no error but a cancelled
// `parent`, returns the parent's cancellation.
Status ParallelFor(size_t n, int threads, CancelContext* parent,
                   const std::function<Status(size_t i, CancelContext* cancel)>& fn);

}  // namespace hoist
