// hypanda-libvirt-hook: libvirt's QEMU hook for analysis domains, installed
// as /etc/libvirt/hooks/qemu.d/hypanda (docs/libvirt.md).
//
// libvirt runs it as `hypanda-libvirt-hook DOMAIN OPERATION SUB-OPERATION
// EXTRA` with the domain's XML on standard input. At `prepare begin`, before
// the emulator starts, a domain with <hypanda:analysis> metadata is checked:
// the metadata reads, every plugin exists and the emulator's user can read
// it, <qemu:commandline> is what the metadata gives (libvirt 9.0 lets a hook
// rewrite the XML only when migrating or restoring, so `hypanda domain
// define` writes it), and the recordings folder exists and that user can
// write it (made for it when missing). Root acts here on paths from domain
// XML: no link on the way is followed, and a folder or plugin file that
// anyone but root could change is refused. A failure is one "hypanda: ..." line
// on standard error and status 1; libvirt then refuses to start the domain
// and shows that line. Other operations and other domains pass untouched.
// It never calls back into libvirt, which waits for it.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "analysis.h"
#include "files.h"

namespace lv = hypanda::libvirt;
using hypanda::rr::ScopedFd;  // the recording library's RAII descriptor

namespace {

struct User {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string name;
};

// qemu.conf's `user = "..."` (or `group`), "" when not set.
std::string qemu_conf_value(const std::string& key) {
    std::ifstream in("/etc/libvirt/qemu.conf");
    std::string line;
    while (std::getline(in, line)) {
        const size_t a = line.find_first_not_of(" \t");
        if (a == std::string::npos || line.compare(a, key.size(), key) != 0) {
            continue;
        }
        const size_t q1 = line.find('"', a + key.size());
        const size_t q2 = q1 == std::string::npos ? q1 : line.find('"', q1 + 1);
        const std::string between = line.substr(a + key.size(), q1 == std::string::npos ? 0 : q1 - a - key.size());
        if (q2 != std::string::npos && between.find_first_not_of(" \t=") == std::string::npos) {
            return line.substr(q1 + 1, q2 - q1 - 1);
        }
    }
    return "";
}

bool id_from(const std::string& text, bool is_user, unsigned* id) {
    if (!text.empty() && text[0] == '+') {
        char* end = nullptr;
        *id = static_cast<unsigned>(std::strtoul(text.c_str() + 1, &end, 10));
        return *end == '\0';
    }
    if (is_user) {
        const passwd* pw = getpwnam(text.c_str());
        return pw != nullptr && (*id = pw->pw_uid, true);
    }
    const group* gr = getgrnam(text.c_str());
    return gr != nullptr && (*id = gr->gr_gid, true);
}

// The user libvirt runs this domain's emulator as: the domain's DAC label,
// else qemu.conf, else Debian's default, libvirt-qemu.
bool emulator_user(const lv::Domain& d, User* out, std::string* err) {
    std::string user = qemu_conf_value("user"), grp = qemu_conf_value("group");
    if (!d.dac_label.empty()) {
        const size_t colon = d.dac_label.find(':');
        user = d.dac_label.substr(0, colon);
        grp = colon == std::string::npos ? "" : d.dac_label.substr(colon + 1);
    }
    if (user.empty()) {
        user = "libvirt-qemu";
    }
    unsigned uid = 0;
    if (!id_from(user, true, &uid)) {
        *err = "the emulator's user '" + user + "' does not exist";
        return false;
    }
    unsigned gid = 0;
    if (grp.empty()) {
        const passwd* pw = getpwuid(uid);
        gid = pw != nullptr ? pw->pw_gid : uid;
    } else if (!id_from(grp, false, &gid)) {
        *err = "the emulator's group '" + grp + "' does not exist";
        return false;
    }
    const passwd* pw = getpwuid(uid);
    *out = User{uid, gid, pw != nullptr ? pw->pw_name : "uid " + std::to_string(uid)};
    return true;
}

// Whether `user` may access `path` with `mode` (R_OK, W_OK|X_OK, ...): asked
// of the kernel by a child that has become that user, groups included.
bool accessible_as(const User& user, const std::string& path, int mode) {
    const pid_t pid = fork();
    if (pid == 0) {
        const passwd* pw = getpwuid(user.uid);
        if ((pw != nullptr ? initgroups(pw->pw_name, user.gid) : setgroups(0, nullptr)) != 0 ||
            setgid(user.gid) != 0 || setuid(user.uid) != 0) {
            _exit(2);
        }
        _exit(access(path.c_str(), mode) == 0 ? 0 : 1);
    }
    int status = 0;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string join(const std::vector<std::string>& words) {
    std::string s;
    for (const std::string& w : words) {
        s += (s.empty() ? "" : " ") + w;
    }
    return s;
}

std::string mode_of(const struct stat& st) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return mode;
}

std::string owner_of(const struct stat& st) {
    const passwd* pw = getpwuid(st.st_uid);
    return pw != nullptr ? std::string(pw->pw_name) : "uid " + std::to_string(st.st_uid);
}

// Why a folder on the way to something root acts on lets another user
// change what the path names; "" when it does not: owned by root and
// writable by nobody else, or owned by root with the sticky bit (/tmp).
// `also` may own it too (the emulator's user, for the recordings folder
// itself).
std::string unsafe_folder(const struct stat& st, uid_t also) {
    if (st.st_uid != 0 && st.st_uid != also) {
        return "belongs to " + owner_of(st);
    }
    if ((st.st_mode & 022) != 0 && !(st.st_uid == 0 && (st.st_mode & S_ISVTX) != 0)) {
        return "is writable by others (mode " + mode_of(st) + ")";
    }
    return "";
}

// The components of an absolute path; false on "." or "..".
bool components(const std::string& path, std::vector<std::string>* out) {
    std::stringstream in(path);
    std::string part;
    while (std::getline(in, part, '/')) {
        if (part == "." || part == "..") {
            return false;
        }
        if (!part.empty()) {
            out->push_back(part);
        }
    }
    return true;
}

// Makes the recordings folder (parents as root, 0755; the folder 0750 for
// the emulator's user), walking it one component at a time from "/"
// without following a link, and refusing a component another user could
// swap. Ownership changes on the descriptor just made: there is no window
// between checking and acting.
bool prepare_recordings(const std::string& dir, const User& user, std::string* err) {
    std::vector<std::string> parts;
    if (dir.empty() || dir[0] != '/' || !components(dir, &parts) || parts.empty()) {
        *err = "recordings folder " + dir + ": give an absolute path without '.' or '..'";
        return false;
    }
    ScopedFd at(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::string so_far;
    for (size_t i = 0; i < parts.size(); i++) {
        const bool last = i + 1 == parts.size();
        so_far += "/" + parts[i];
        const char* name = parts[i].c_str();
        bool made = false;
        ScopedFd fd(openat(at.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd.get() < 0 && errno == ENOENT) {
            if (mkdirat(at.get(), name, 0700) != 0 && errno != EEXIST) {
                *err = "recordings folder " + dir + ": cannot make " + so_far + ": " + std::strerror(errno);
                return false;
            }
            made = true;
            fd = ScopedFd(openat(at.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        }
        if (fd.get() < 0) {
            const int e = errno;
            struct stat link;
            const bool is_link =
                e == ELOOP || (fstatat(at.get(), name, &link, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(link.st_mode));
            *err = "recordings folder " + dir + ": " + so_far +
                   (is_link        ? " is a symbolic link: refused (give the real path)"
                    : e == ENOTDIR ? " exists and is not a folder"
                                   : ": " + std::string(std::strerror(e)));
            return false;
        }
        struct stat st;
        if (fstat(fd.get(), &st) != 0) {
            *err = "recordings folder " + dir + ": " + so_far + ": " + std::strerror(errno);
            return false;
        }
        if (made && st.st_uid == geteuid()) {
            // Ours: mkdirat made it under the umask; say what it is.
            if ((last && fchown(fd.get(), user.uid, user.gid) != 0) || fchmod(fd.get(), last ? 0750 : 0755) != 0) {
                *err = "recordings folder " + dir + ": cannot give " + so_far + " to " + user.name + ": " +
                       std::strerror(errno);
                return false;
            }
        } else {
            const std::string why = unsafe_folder(st, last ? user.uid : 0);
            if (!why.empty()) {
                *err = "recordings folder " + dir + ": " + so_far + " " + why +
                       ": refused (another user could send what root makes there anywhere)";
                return false;
            }
        }
        at = std::move(fd);
    }
    if (!accessible_as(user, dir, W_OK | X_OK)) {
        *err = "recordings folder " + dir + " is not writable by " + user.name +
               ", the emulator's user; chown it to " + user.name + " or name another folder";
        return false;
    }
    return true;
}

// A plugin runs as the emulator's user: refuse one that anyone but root
// could rewrite, or swap through a folder on its (real) path.
bool check_plugin_file(const std::string& plugin, std::string* err) {
    char* real = realpath(plugin.c_str(), nullptr);
    if (real == nullptr) {
        *err = "plugin " + plugin + ": " + std::strerror(errno);
        return false;
    }
    const std::string path = real;
    free(real);
    std::vector<std::string> parts;
    if (!components(path, &parts) || parts.empty()) {
        *err = "plugin " + plugin + ": not a file";
        return false;
    }
    ScopedFd at(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    struct stat st;
    if (fstat(at.get(), &st) != 0 || !unsafe_folder(st, 0).empty()) {
        *err = "plugin " + plugin + ": / " + unsafe_folder(st, 0) + ": refused";
        return false;
    }
    std::string so_far;
    for (size_t i = 0; i < parts.size(); i++) {
        const bool last = i + 1 == parts.size();
        so_far += "/" + parts[i];
        ScopedFd fd(openat(at.get(), parts[i].c_str(), (last ? O_PATH : O_RDONLY | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC));
        if (fd.get() < 0 || fstat(fd.get(), &st) != 0) {
            *err = "plugin " + plugin + ": " + so_far + ": " + std::strerror(errno);
            return false;
        }
        std::string why;
        if (last && (st.st_uid != 0 || (st.st_mode & 022) != 0)) {
            why = st.st_uid != 0 ? "belongs to " + owner_of(st) : "is writable by others (mode " + mode_of(st) + ")";
        } else if (!last) {
            why = unsafe_folder(st, 0);
        }
        if (!why.empty()) {
            *err = "plugin " + plugin + ": " + so_far + " " + why +
                   ": refused (a plugin runs as the emulator's user; only root may be able to change it)";
            return false;
        }
        at = std::move(fd);
    }
    return true;
}

int prepare(const std::string& name, const std::string& xml) {
    lv::Domain d;
    std::string err;
    auto fail = [&](const std::string& what) {
        std::fprintf(stderr, "hypanda: domain '%s': %s\n", name.c_str(), what.c_str());
        return 1;
    };
    if (!lv::parse_domain(xml, "domain '" + name + "' XML", &d, &err)) {
        std::fprintf(stderr, "hypanda: %s\n", err.c_str());
        return 1;
    }
    if (!d.has_analysis) {
        return 0;
    }
    if (!lv::check_domain(d, &err)) {
        std::fprintf(stderr, "hypanda: %s\n", err.c_str());
        return 1;
    }
    User user;
    if (!emulator_user(d, &user, &err)) {
        return fail(err);
    }
    std::vector<std::string> plugins;
    if (!lv::find_plugins(d.analysis, d.emulator, &plugins, &err)) {
        return fail(err);
    }
    for (const std::string& p : plugins) {
        if (!check_plugin_file(p, &err)) {
            return fail(err);
        }
        if (!accessible_as(user, p, R_OK)) {
            return fail("plugin " + p + " is not readable by " + user.name +
                        ", the emulator's user (check the folders' permissions on the way)");
        }
    }
    const std::vector<std::string> want = lv::emulator_options(d.analysis);
    if (d.commandline != want) {
        return fail("<qemu:commandline> does not match the <hypanda:analysis> metadata (edited by hand?); run "
                    "'hypanda domain define' on the XML to regenerate it (wanted: " +
                    join(want) + ")");
    }
    if (!d.analysis.recordings.empty() && !prepare_recordings(d.analysis.recordings, user, &err)) {
        return fail(err);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "hypanda-libvirt-hook: libvirt runs this as DOMAIN OPERATION SUB-OPERATION EXTRA, "
                             "with the domain's XML on standard input\n");
        return 2;
    }
    const std::string op = argv[2];
    const std::string sub = argc > 3 ? argv[3] : "";
    if (op != "prepare" || sub != "begin") {
        return 0;
    }
    std::string xml((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return prepare(argv[1], xml);
}
