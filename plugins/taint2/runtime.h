// The Runtime (pass.h) whose functions forward to one TaintState: what the
// plugin hands the pass, and what the tests do too.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include "pass.h"
#include "taint_state.h"

namespace hypanda::taint2 {

// The state the forwarding functions use from now on (nullptr: none; then
// they do nothing — taint is off).
void forward_to(TaintState* state);
const Runtime& forwarding_runtime();

}  // namespace hypanda::taint2
