// Opening a recording's files (files.h).
//
// SPDX-License-Identifier: GPL-2.0-or-later
#include "files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hypanda::rr {

ScopedFd::~ScopedFd() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

ScopedFd& ScopedFd::operator=(ScopedFd&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = o.release();
    }
    return *this;
}

ScopedFd open_folder(const std::string& path, std::string* err) {
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.ok()) {
        *err = std::string("cannot open the recording's folder: ") + std::strerror(errno);
    }
    return fd;
}

bool read_file_at(int dir, const std::string& name, std::vector<uint8_t>* out, std::string* err) {
    // O_NONBLOCK: a FIFO planted under a file's name must not hang the open.
    ScopedFd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd.ok()) {
        *err = errno == ELOOP ? name + ": is a symbolic link; a recording's files are never read through links"
                              : name + ": cannot open: " + std::strerror(errno);
        return false;
    }
    struct stat st;
    if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        *err = name + ": not a regular file; a recording holds only regular files";
        return false;
    }
    if (static_cast<uint64_t>(st.st_size) > kMaxReadBytes) {
        *err = name + ": " + std::to_string(st.st_size) + " bytes, over the " + std::to_string(kMaxReadBytes) +
               " a recording's file may have";
        return false;
    }
    out->resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out->size()) {
        const ssize_t n = ::read(fd.get(), out->data() + got, out->size() - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            *err = name + (n < 0 ? ": read failed: " + std::string(std::strerror(errno)) : ": shorter than its size");
            return false;
        }
        got += static_cast<size_t>(n);
    }
    return true;
}

ScopedFd make_folder(const std::string& path, std::string* err) {
    if (::mkdir(path.c_str(), 0700) != 0) {
        *err = path + ": cannot create the recording's folder: " + std::strerror(errno);
        return ScopedFd();
    }
    ScopedFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st;
    if (!fd.ok() || fstat(fd.get(), &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        *err = path + ": the folder just made was replaced (is its parent folder writable by others?)";
        return ScopedFd();
    }
    return fd;
}

ScopedFd create_file_at(int dir, const std::string& name, const std::string& shown, std::string* err) {
    ScopedFd fd(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd.ok()) {
        *err = shown + ": cannot create: " + std::strerror(errno) +
               (errno == EEXIST ? " (recordings never overwrite a file)" : "");
    }
    return fd;
}

}  // namespace hypanda::rr
