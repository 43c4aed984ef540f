// How the recording code opens files. A recording is untrusted input (people
// send them to each other) and its folder may sit where others can write:
// nothing is read through a symbolic link or from anything but a regular
// file, and everything written is new, the owner's alone (folder 0700,
// files 0600), made relative to the folder's descriptor.
//
// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace hypanda::rr {

// Closes its descriptor when it goes (rr's ScopedFd).
class ScopedFd {
public:
    ScopedFd() = default;
    explicit ScopedFd(int fd) : fd_(fd) {}
    ~ScopedFd();
    ScopedFd(ScopedFd&& o) noexcept : fd_(o.release()) {}
    ScopedFd& operator=(ScopedFd&& o) noexcept;
    ScopedFd(const ScopedFd&) = delete;
    ScopedFd& operator=(const ScopedFd&) = delete;

    int get() const { return fd_; }
    bool ok() const { return fd_ >= 0; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }

private:
    int fd_ = -1;
};

// The largest file a recording holds that is read whole (a snapshot of
// 64 GiB of RAM compresses to far less).
constexpr uint64_t kMaxReadBytes = 64ull << 30;

// Opens the folder `path` to read a recording from; `path` is the user's
// own word, so a link there is followed. Errors do not repeat the path:
// callers say which recording.
[[nodiscard]] ScopedFd open_folder(const std::string& path, std::string* err);

// Reads `name` in the folder `dir` whole: a regular file, never through a
// link. Errors name it as `name`.
[[nodiscard]] bool read_file_at(int dir, const std::string& name, std::vector<uint8_t>* out, std::string* err);

// Makes the folder `path` (0700; it must not exist) and opens it, checking
// that what was opened is the folder just made.
[[nodiscard]] ScopedFd make_folder(const std::string& path, std::string* err);

// Creates `name` in `dir` (AT_FDCWD: the working folder) for writing:
// exclusive, 0600, never through a link. Errors name `shown`.
[[nodiscard]] ScopedFd create_file_at(int dir, const std::string& name, const std::string& shown, std::string* err);

}  // namespace hypanda::rr
