// Choosing a replay's machine options (replay_args.h): the allow-list.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "replay_args.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

namespace hypanda::rr {

namespace {

using nlohmann::json;
using Props = std::vector<std::pair<std::string, std::string>>;
using Set = std::initializer_list<const char*>;

bool one_of(const std::string& s, Set set) {
    for (const char* x : set) {
        if (s == x) {
            return true;
        }
    }
    return false;
}

// ---- The tables ------------------------------------------------------------------

// Options a replay keeps, each checked below; their values never name a
// host resource once checked.
const Set kKeptOptions = {"machine", "M", "cpu", "m", "smp", "numa", "name", "rtc", "boot", "vga", "global",
                          "device", "object", "net", "drive", "nic"};
// Flags (options without a value) a replay keeps and leaves out.
const Set kKeptFlags = {"nodefaults", "no-hpet", "no-acpi", "usb"};
const Set kDroppedFlags = {"S", "s", "nographic", "enable-kvm", "no-reboot", "no-shutdown", "daemonize",
                           "snapshot", "no-user-config", "nodefconfig", "full-screen", "no-fd-bootchk",
                           "win2k-hack", "no-quit", "preconfig", "only-migratable", "enable-sync-profile",
                           "mem-prealloc", "no-frame", "alt-grab", "ctrl-grab", "no-kvm-pit-reinjection",
                           "rtc-td-hack"};
// Options with a value that a recording's command line holds and a replay
// never needs: the host side of the recording (its disks, kernel, sockets,
// descriptors, displays, the engines and plugins it ran with). Leaving one
// out never asks anything of the host; the replay's own checks catch a
// machine that then differs.
const Set kDroppedOptions = {
    "kernel", "initrd", "append", "dtb", "bios", "L", "blockdev", "chardev", "mon", "qmp", "qmp-pretty",
    "serial", "parallel", "monitor", "debugcon", "display", "vnc", "spice", "add-fd", "sandbox", "msg", "uuid",
    "overcommit", "audiodev", "netdev", "accel", "pidfile", "D", "d", "trace", "plugin", "panda",
    "panda-plugin", "panda-arg", "hybrid", "hybrid-break", "record-from", "replay", "gdb", "smbios", "fw_cfg",
    "pflash", "fda", "fdb", "hda", "hdb", "hdc", "hdd", "cdrom", "mtdblock", "sd", "loadvm", "incoming",
    "readconfig", "icount", "tb-size", "watchdog-action", "action", "k", "chroot", "runas", "mem-path",
    "realtime", "tpmdev", "fsdev", "virtfs", "iscsi", "usbdevice", "qtest", "qtest-log", "compat", "echr",
    "show-cursor", "g"};

// Device models a replay creates. One the recording gave a host back-end (a
// disk's drive, a NIC's netdev, a serial port's chardev, ...) is created
// without it, in its place: its reads come from the log, and the machine's
// layout (PCI addresses, which name RAM blocks such as a NIC's ROM) stays
// the recording's.
const Set kDevices = {
    // Hypanda's and the test machines'
    "hypanda-hypercall", "isa-debug-exit", "isa-debugcon", "pvpanic", "pvpanic-pci", "vmcoreinfo", "sga",
    // serial and parallel ports, consoles
    "isa-serial", "isa-parallel", "pci-serial", "pci-serial-2x", "pci-serial-4x", "virtio-serial-pci",
    "virtconsole", "virtserialport",
    // display
    "VGA", "isa-vga", "cirrus-vga", "isa-cirrus-vga", "bochs-display", "secondary-vga", "virtio-vga",
    "virtio-gpu-pci", "qxl-vga", "qxl", "ramfb",
    // network
    "e1000", "e1000-82544gc", "e1000-82545em", "e1000e", "rtl8139", "virtio-net-pci", "pcnet", "ne2k_pci",
    "ne2k_isa", "vmxnet3", "i82559er", "i82801",
    // storage
    "ide-hd", "ide-cd", "ide-drive", "scsi-hd", "scsi-cd", "virtio-blk-pci", "virtio-scsi-pci", "lsi53c895a",
    "lsi53c810", "megasas", "megasas-gen2", "mptsas1068", "am53c974", "dc390", "ich9-ahci", "ahci", "nvme",
    "floppy", "isa-fdc", "piix3-ide", "piix4-ide", "usb-storage",
    // USB
    "piix3-usb-uhci", "piix4-usb-uhci", "ich9-usb-uhci1", "ich9-usb-uhci2", "ich9-usb-uhci3", "ich9-usb-uhci4",
    "ich9-usb-uhci5", "ich9-usb-uhci6", "ich9-usb-ehci1", "ich9-usb-ehci2", "usb-ehci", "qemu-xhci",
    "nec-usb-xhci", "usb-tablet", "usb-mouse", "usb-kbd", "usb-hub",
    // virtio and other PCI functions
    "virtio-balloon-pci", "virtio-rng-pci", "virtio-keyboard-pci", "virtio-mouse-pci", "virtio-tablet-pci",
    "virtio-9p-pci", "i6300esb", "ib700", "intel-iommu", "amd-iommu", "pcie-root-port", "ioh3420", "pci-bridge",
    "pcie-pci-bridge", "i82801b11-bridge", "x3130-upstream", "xio3130-downstream", "pxb", "pxb-pcie",
    // sound
    "intel-hda", "ich9-intel-hda", "hda-duplex", "hda-output", "hda-micro", "AC97", "sb16", "ES1370"};

// Properties that bind a device to a host back-end. The device is created
// without it; a disk that cannot be made without a drive gets an empty one
// (QEMU's null-co driver: nothing on the host, and the log has every read);
// one that needs another back-end (a 9p share's fsdev, a DIMM's memdev) is
// left out.
const Set kBackendProperties = {"drive", "netdev", "chardev", "audiodev", "fsdev", "rng", "memdev",
                                "drive-a", "drive-b", "driveA", "driveB"};
const Set kOptionalBackends = {"netdev", "chardev", "audiodev", "rng"};
const Set kDiskDevices = {"virtio-blk-pci", "ide-hd", "ide-drive", "ide-cd", "scsi-hd", "scsi-cd", "usb-storage",
                          "nvme", "floppy"};
// -drive interfaces that make a device of their own (a PCI function): kept
// with an empty drive so the machine keeps its layout. The others (ide,
// floppy: a built-in controller's; none: a -device's) are left out.
const Set kDriveDeviceInterfaces = {"virtio", "scsi"};
constexpr const char* kEmptyDrive = "hypanda-replay-disk-";

// Device (and -global) properties that are plain values.
const Set kDeviceProperties = {
    "id", "bus", "addr", "multifunction", "unit", "bootindex", "name", "nr", "max_ports", "max-bytes", "period", "iobase", "iosize", "irq", "index", "chassis",
    "port", "slot", "mac", "vectors", "num_queues", "num-queues", "queue-size", "disable-legacy",
    "disable-modern", "ioeventfd", "event_idx", "indirect_desc", "serial", "wwn", "logical_block_size",
    "physical_block_size", "discard_granularity", "write-cache", "ver", "model", "rombar", "masterbus",
    "firstport", "p2", "p3", "msi", "msix", "max_sectors", "cmd_per_lun", "bus_nr", "numa_node", "aer", "ats",
    "vgamem_mb", "vram_size", "vram_size_mb", "ram_size", "ram_size_mb", "vgamem_size", "xres", "yres",
    "max_outputs", "edid", "intremap", "caching-mode", "device-iotlb", "eim", "x-buggy-eim", "aw-bits",
    "mq", "packed", "page-per-vq", "iommu_platform", "speed", "max-bytes", "period", "lost_tick_policy",
    "disable_s3", "disable_s4", "extended-tseg-mbytes", "secure", "allow", "pcie-root-port", "x-pci-vendor-id",
    "x-pci-device-id", "x-pci-sub-vendor-id", "x-pci-sub-device-id", "cpus", "iothread", "share-rw"};

// -object types: memory back-ends become plain RAM; these stay; these go.
const Set kKeptObjects = {"iothread"};
const Set kIothreadProperties = {"qom-type", "id", "poll-max-ns", "poll-grow", "poll-shrink", "aio-max-batch"};
const Set kDroppedObjects = {"secret", "secret_keyring", "rng-random", "rng-egd", "rng-builtin",
                             "tls-creds-anon", "tls-creds-psk", "tls-creds-x509", "tls-cipher-suites",
                             "throttle-group", "pr-manager-helper", "authz-simple", "authz-list",
                             "authz-listfile", "authz-pam"};

const Set kMachineProperties = {"type", "usb", "dump-guest-core", "mem-merge", "memory-backend", "smm", "acpi",
                                "pit", "pic", "hpet", "vmport", "sata", "smbus", "max-ram-below-4g", "graphics",
                                "suppress-vmdesc", "default-bus-bypass-iommu", "i8042", "hmat", "nvdimm"};
const Set kDroppedMachineProperties = {"accel", "kernel-irqchip", "kvm-shadow-mem"};

// ---- Reading values ------------------------------------------------------------------

// A value that is only words, numbers and QEMU's separators.
bool plain(const std::string& v) {
    for (const char c : v) {
        if (c == '\0' || (!std::isalnum(static_cast<unsigned char>(c)) && std::strchr("_.:+-=,@", c) == nullptr)) {
            return false;
        }
    }
    return true;
}

// Text from the recording as an error line shows it: control characters
// escaped, long text cut, so the line stays one line.
std::string one_line(const std::string& raw) {
    std::string s;
    for (size_t i = 0; i < raw.size(); i++) {
        if (i == 200) {
            s += "...";
            break;
        }
        const unsigned char c = static_cast<unsigned char>(raw[i]);
        if (c < 0x20 || c == 0x7f) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            s += hex;
        } else {
            s += raw[i];
        }
    }
    return s;
}

std::string shown_option(const std::string& option, const std::string& value) {
    return one_line("-" + option + (value.empty() ? "" : " " + value));
}

bool printable(const std::string& v) {
    for (const char c : v) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            return false;
        }
    }
    return true;
}

// QEMU's "first,key=value,..." (",," is a literal comma); the first bare
// word goes under `first_key`.
Props key_values(const std::string& value, const char* first_key) {
    Props out;
    std::vector<std::string> parts(1);
    for (size_t i = 0; i < value.size(); i++) {
        if (value[i] == ',' && i + 1 < value.size() && value[i + 1] == ',') {
            parts.back() += ',';
            i++;
        } else if (value[i] == ',') {
            parts.emplace_back();
        } else {
            parts.back() += value[i];
        }
    }
    for (size_t i = 0; i < parts.size(); i++) {
        const size_t eq = parts[i].find('=');
        if (eq != std::string::npos) {
            out.emplace_back(parts[i].substr(0, eq), parts[i].substr(eq + 1));
        } else if (i == 0) {
            out.emplace_back(first_key, parts[i]);
        } else {
            out.emplace_back(parts[i], "on");
        }
    }
    return out;
}

std::string escape_commas(const std::string& v) {
    std::string out;
    for (const char c : v) {
        out += c;
        if (c == ',') {
            out += ',';
        }
    }
    return out;
}

// An option's value in the syntax it came in: JSON objects stay JSON.
struct OptionValue {
    bool is_json = false;
    Props props;
    std::set<std::string> changed;  // keys set(), written back as given

    bool parse(const std::string& value, const char* first_key) {
        if (!value.empty() && value[0] == '{') {
            const json j = json::parse(value, nullptr, false);
            if (!j.is_object()) {
                return false;
            }
            is_json = true;
            for (auto it = j.begin(); it != j.end(); ++it) {
                if (it.value().is_structured()) {
                    return false;  // no nested values among what a replay keeps
                }
                props.emplace_back(it.key(), it.value().is_string() ? it.value().get<std::string>()
                                                                    : it.value().dump());
            }
            return true;
        }
        props = key_values(value, first_key);
        return true;
    }

    std::string get(const std::string& key) const {
        for (const auto& [k, v] : props) {
            if (k == key) {
                return v;
            }
        }
        return "";
    }

    void set(const std::string& key, const std::string& value) {
        for (auto& kv : props) {
            if (kv.first == key) {
                kv.second = value;
            }
        }
        changed.insert(key);
    }

    void remove(const std::string& key) {
        Props kept;
        for (auto& kv : props) {
            if (kv.first != key) {
                kept.push_back(std::move(kv));
            }
        }
        props = std::move(kept);
    }

    // Written back from `original` (types kept) or as key=value.
    std::string text(const std::string& original, const char* first_key) const {
        if (is_json) {
            const json j = json::parse(original);
            json out = json::object();
            for (const auto& kv : props) {
                out[kv.first] = changed.count(kv.first) != 0 ? json(kv.second) : j.at(kv.first);
            }
            return out.dump();
        }
        std::string s;
        for (const auto& [k, v] : props) {
            s += (s.empty() ? "" : ",") + (k == first_key ? escape_commas(v) : k + "=" + escape_commas(v));
        }
        return s;
    }
};

// ---- The filter ------------------------------------------------------------------

class Filter {
public:
    explicit Filter(std::vector<std::string>* out) : out_(out) {}

    // One option and its value: kept (appended), left out, or refused.
    bool take(const std::string& option, const std::string& value, std::string* err) {
        const std::string shown = shown_option(option, value);
        auto refuse = [&](const std::string& why) {
            *err = "the recording's command line has '" + shown + "': " + one_line(why) +
                   "; a replay runs only the machine (docs/recording.md lists what it takes)";
            return false;
        };
        if (!printable(value)) {
            return refuse("a control character in its value");
        }
        if (option == "net") {
            // -net nic: the NIC (as -nic below); -net none stays; the other
            // -net kinds are host sides, not replayed.
            if (value == "none") {
                keep(option, value);
            } else if (value == "nic" || value.rfind("nic,", 0) == 0) {
                return nic("hubport" + value.substr(3), refuse);
            }
            return true;
        }
        if (option == "nic") {
            return nic(value, refuse);
        }
        if (option == "drive") {
            return drive(value, refuse);
        }
        if (one_of(option, {"cpu", "m", "smp", "numa", "vga"})) {
            if (!plain(value)) {
                return refuse("not a plain value");
            }
            keep(option, value);
            return true;
        }
        OptionValue v;
        if (!v.parse(value, option == "device" ? "driver" : option == "object" ? "qom-type" : "type")) {
            return refuse("its value does not read");
        }
        if (option == "machine" || option == "M") {
            return machine(option, value, &v, refuse);
        }
        if (option == "device") {
            return device(option, value, &v, refuse);
        }
        if (option == "object") {
            return object(option, value, v, refuse);
        }
        if (option == "global") {
            return global(option, value, refuse);
        }
        if (option == "name") {
            return checked(option, value, key_values(value, "guest"), {"guest", "process", "debug-threads"}, refuse);
        }
        if (option == "rtc") {
            return checked(option, value, key_values(value, "base"), {"base", "clock", "driftfix"}, refuse,
                           /*plain_values=*/true);
        }
        if (option == "boot") {
            OptionValue b;
            b.props = key_values(value, "order");
            b.remove("splash");  // a host file shown at boot: not replayed
            if (!checked_props(b.props, {"order", "once", "menu", "strict", "reboot-timeout", "splash-time"},
                               refuse, true)) {
                return false;
            }
            keep(option, b.text(value, "order"));
            return true;
        }
        return refuse("not an option a replay takes");
    }

private:
    template <typename Refuse>
    bool checked_props(const Props& props, Set allowed, Refuse refuse, bool plain_values) {
        for (const auto& [k, v] : props) {
            if (!one_of(k, allowed)) {
                return refuse("property '" + k + "' is not one a replay takes");
            }
            if (plain_values && !plain(v)) {
                return refuse("property '" + k + "' is not a plain value");
            }
        }
        return true;
    }

    template <typename Refuse>
    bool checked(const std::string& option, const std::string& value, const Props& props, Set allowed,
                 Refuse refuse, bool plain_values = false) {
        if (!checked_props(props, allowed, refuse, plain_values)) {
            return false;
        }
        keep(option, value);
        return true;
    }

    template <typename Refuse>
    bool machine(const std::string& option, const std::string& value, OptionValue* v, Refuse refuse) {
        for (const char* key : kDroppedMachineProperties) {
            v->remove(key);  // replay runs TCG
        }
        if (!checked_props(v->props, kMachineProperties, refuse, true)) {
            return false;
        }
        keep(option, v->text(value, "type"));
        return true;
    }

    template <typename Refuse>
    bool device(const std::string& option, const std::string& value, OptionValue* v, Refuse refuse) {
        const std::string model = v->get("driver");
        if (!one_of(model, kDevices)) {
            return refuse("device model '" + model + "' is not one a replay creates");
        }
        for (const auto& kv : v->props) {
            if (one_of(kv.first, kBackendProperties) && !one_of(kv.first, kOptionalBackends) &&
                !(kv.first == "drive" && one_of(model, kDiskDevices))) {
                return true;  // it cannot be made without its host side: left out
            }
        }
        for (const char* key : kOptionalBackends) {
            v->remove(key);
        }
        if (!v->get("drive").empty()) {
            const std::string node = kEmptyDrive + std::to_string(empty_drives_++);
            keep("blockdev", "driver=null-co,node-name=" + node);
            v->set("drive", node);
        }
        if (model == "hypanda-hypercall") {
            v->remove("record");  // a replay records nothing
        }
        for (const auto& [k, val] : v->props) {
            if (k == "driver" || (k == "romfile" && val.empty()) ||
                (k == "drive" && val.rfind(kEmptyDrive, 0) == 0)) {
                continue;
            }
            if (!one_of(k, kDeviceProperties)) {
                return refuse("property '" + k + "' is not one a replay takes");
            }
        }
        keep(option, v->text(value, "driver"));
        return true;
    }

    // -nic TYPE,...: the same NIC (model, MAC) on a hub port that leads
    // nowhere, so that the machine's default NIC model stays the recorded
    // one too; -nic none stays.
    template <typename Refuse>
    bool nic(const std::string& value, Refuse refuse) {
        const Props props = key_values(value, "type");
        std::string type, kept;
        for (const auto& [k, val] : props) {
            if (k == "type") {
                type = val;
            } else if ((k == "model" || k == "mac") && plain(val) && val.find_first_of(",=") == std::string::npos) {
                kept += "," + k + "=" + val;
            }
        }
        if (type == "none") {
            keep("nic", "none");
            return true;
        }
        if (!plain(type)) {
            return refuse("its type does not read");
        }
        keep("nic", "hubport,hubid=0" + kept);
        return true;
    }

    // -drive: see kDriveDeviceInterfaces.
    template <typename Refuse>
    bool drive(const std::string& value, Refuse refuse) {
        (void)refuse;
        const Props props = key_values(value, "file");
        std::string iface = "ide", kept;
        for (const auto& [k, val] : props) {
            if (k == "if") {
                iface = val;
            } else if ((k == "index" || k == "bus" || k == "unit" || k == "media") && plain(val) &&
                       val.find_first_of(",=") == std::string::npos) {
                kept += "," + k + "=" + val;
            }
        }
        if (one_of(iface, kDriveDeviceInterfaces)) {
            keep("drive", "if=" + iface + ",driver=null-co" + kept);
        }
        return true;
    }

    template <typename Refuse>
    bool object(const std::string& option, const std::string& value, const OptionValue& v, Refuse refuse) {
        const std::string type = v.get("qom-type");
        if (type.rfind("memory-backend-", 0) == 0 && type != "memory-backend-epc") {
            // Plain RAM of the same id and size: the host side is not needed.
            const std::string id = v.get("id"), size = v.get("size");
            if (id.empty() || !plain(id) || size.empty() || !plain(size) || id.find_first_of(",=") != std::string::npos ||
                size.find_first_of(",=") != std::string::npos) {
                return refuse("a memory back-end needs a plain id and size");
            }
            keep(option, "memory-backend-ram,id=" + id + ",size=" + size);
            return true;
        }
        if (one_of(type, kDroppedObjects)) {
            return true;
        }
        if (!one_of(type, kKeptObjects)) {
            return refuse("object type '" + type + "' is not one a replay creates");
        }
        if (!checked_props(v.props, kIothreadProperties, refuse, true)) {
            return false;
        }
        keep(option, value);
        return true;
    }

    // "driver.property=value", or "driver=D,property=P,value=V".
    template <typename Refuse>
    bool global(const std::string& option, const std::string& value, Refuse refuse) {
        std::string driver, property;
        const Props kv = key_values(value, "");
        if (value.find("driver=") == 0) {
            OptionValue g;
            g.props = kv;
            if (!checked_props(kv, {"driver", "property", "value"}, refuse, false)) {
                return false;
            }
            driver = g.get("driver");
            property = g.get("property");
        } else {
            const size_t dot = value.find('.'), eq = value.find('=');
            if (dot == std::string::npos || eq == std::string::npos || eq < dot) {
                return refuse("not driver.property=value");
            }
            driver = value.substr(0, dot);
            property = value.substr(dot + 1, eq - dot - 1);
        }
        if (!plain(driver) || one_of(property, kBackendProperties) || !one_of(property, kDeviceProperties)) {
            return refuse("property '" + property + "' is not one a replay takes");
        }
        keep(option, value);
        return true;
    }

    void keep(const std::string& option, const std::string& value) { out_->insert(out_->end(), {"-" + option, value}); }

    std::vector<std::string>* out_;
    int empty_drives_ = 0;
};

}  // namespace

bool replay_machine_args(const std::vector<std::string>& line, std::vector<std::string>* out, std::string* err) {
    out->clear();
    Filter filter(out);
    bool recorded_net = false, nodefaults = false;  // as options, not as some option's value
    for (size_t i = 1; i < line.size(); i++) {
        if (line[i].size() < 2 || line[i][0] != '-') {
            continue;  // a stray word (QEMU takes a lone word as a disk image): not replayed
        }
        const std::string option = line[i].substr(line[i][1] == '-' ? 2 : 1);
        nodefaults |= option == "nodefaults";
        recorded_net |= option == "netdev" || option == "nic" || option == "net";
        if (one_of(option, kKeptFlags)) {
            out->push_back("-" + option);
            continue;
        }
        if (one_of(option, kDroppedFlags)) {
            continue;
        }
        if (!one_of(option, kDroppedOptions) && !one_of(option, kKeptOptions)) {
            out->clear();
            *err = "the recording's command line has '" + shown_option(option, "") +
                   "': not an option a replay takes; a replay runs only the machine (docs/recording.md lists what "
                   "it takes)";
            return false;
        }
        if (i + 1 >= line.size()) {
            break;  // no value: QEMU refused this when recording
        }
        const std::string& value = line[++i];
        if (one_of(option, kDroppedOptions)) {
            continue;
        }
        if (!filter.take(option, value, err)) {
            out->clear();
            return false;
        }
    }
    // The machine's default NIC (and its user-mode back-end) exists when the
    // command line names no network at all: the replay makes the same NIC on
    // a hub port that leads nowhere. When the recording's network was all
    // -netdev, nothing default was made, and the replay must not make one.
    bool replay_net = false;
    for (const std::string& w : *out) {
        replay_net |= w == "-nic" || w == "-net";
    }
    if (!replay_net && !nodefaults) {
        out->insert(out->end(), {"-nic", recorded_net ? "none" : "hubport,hubid=0"});
    }
    for (const char* extra : {"-accel", "tcg", "-display", "none", "-serial", "none", "-monitor", "none"}) {
        out->push_back(extra);
    }
    return true;
}

}  // namespace hypanda::rr
