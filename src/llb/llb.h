// The LLB builder in one include: States, sources, exec and file ops, marshalling, dumping.
#pragma once

#include "llb/caps.h"        // IWYU pragma: export
#include "llb/definition.h"  // IWYU pragma: export
#include "llb/dump.h"        // IWYU pragma: export
#include "llb/exec.h"        // IWYU pragma: export
#include "llb/file_action.h" // IWYU pragma: export
#include "llb/marshal.h"     // IWYU pragma: export
#include "llb/source.h"      // IWYU pragma: export
#include "llb/state.h"       // IWYU pragma: export
