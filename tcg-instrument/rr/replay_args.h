// The machine options a replay takes from a recording's command line.
// Recordings are untrusted input, so this is an allow-list (docs/recording.md
// lists it): what makes the machine (its RAM blocks must be the
// recording's) and needs nothing from the host is kept, value by value;
// what a recording's command line normally holds but a replay never needs
// (disks, kernel, chardevs, monitors, file descriptors, secrets, displays,
// devices bound to a host back-end) is left out; anything else is refused,
// naming it. Both of QEMU's syntaxes are read (key=value and the JSON
// libvirt writes).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <string>
#include <vector>

namespace hypanda::rr {

// `recorded` is the recording's whole command line (argv[0] first). On
// success `*out` ends with -accel tcg -display none -serial none -monitor
// none; otherwise false and one line in `*err` naming the refused option.
[[nodiscard]] bool replay_machine_args(const std::vector<std::string>& recorded, std::vector<std::string>* out,
                                       std::string* err);

}  // namespace hypanda::rr
