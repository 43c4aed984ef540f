// The machine options a replay takes from a recording's command line: what
// makes the machine (its RAM blocks must be the recording's), nothing that
// needs the recording host: no disks, kernel, chardevs, monitors, file
// descriptors, secrets or displays, in both of QEMU's syntaxes (key=value
// and the JSON libvirt writes).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <string>
#include <vector>

namespace hypanda::rr {

// `recorded` is the recording's whole command line (argv[0] first). The
// result ends with -accel tcg -display none -serial none -monitor none.
[[nodiscard]] std::vector<std::string> replay_machine_args(const std::vector<std::string>& recorded);

}  // namespace hypanda::rr
