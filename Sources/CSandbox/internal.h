// CSandbox's own header: the helpers more than one of its files uses. It is
// not in include/, so Swift never sees it.
//
// Some of these run in a box's init (the child of a clone made by a
// multi-threaded process, see spawn.c): everything here is async-signal-safe,
// with no malloc, no stdio and no locks. Each file defines _GNU_SOURCE and
// includes this header before any other.
#ifndef CSANDBOX_INTERNAL_H
#define CSANDBOX_INTERNAL_H

#include "csandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <linux/mount.h>
#include <unistd.h>

// A function the other files of CSandbox call, but the library's users do not.
#define CS_HIDDEN __attribute__((visibility("hidden")))

static inline void cs_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

// v in decimal, NUL-terminated, into out (24 bytes are enough).
static inline void cs_decimal(long v, char *out) {
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v > 0 && n < 23);
    while (n > 0) *out++ = tmp[--n];
    *out = 0;
}

// Bring lo up in the calling task's network namespace. 0, or -1 with errno set.
static inline int cs_loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

// Carry out one entry of a mount table (a box's, or a template's). 0, or -1
// with errno set; the caller decides what `optional` tolerates.
static inline int cs_do_op(const struct cs_op *op) {
    switch (op->kind) {
    case CS_OP_MOUNT:
        return mount(op->source, op->target, op->fstype, op->flags, op->data);
    case CS_OP_MKDIR:
        if (mkdir(op->target, op->flags ? (mode_t)op->flags : 0755) < 0 && errno != EEXIST) return -1;
        // An explicit mode is the mode: not what the caller's umask left of it.
        return op->flags ? chmod(op->target, (mode_t)op->flags) : 0;
    case CS_OP_TOUCH: {
        int fd = open(op->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) return -1;
        close(fd);
        return 0;
    }
    case CS_OP_SYMLINK:
        if (symlink(op->source, op->target) < 0 && errno != EEXIST) return -1;
        return 0;
    case CS_OP_MKNOD:
        if (mknod(op->target, S_IFCHR | 0666, makedev((unsigned)(op->flags >> 8), (unsigned)(op->flags & 0xff))) < 0) return -1;
        // The caller's umask applied to mknod; the box's programs write these.
        return chmod(op->target, 0666);
    case CS_OP_ATTACH: {
        // The tree was opened in the caller's mount namespace, which is not
        // this one: only a descriptor brings a host path into a box copied
        // from a template. Attached, its last close no longer dissolves it.
        int rc = (int)syscall(SYS_move_mount, op->fd, "", AT_FDCWD, op->target, MOVE_MOUNT_F_EMPTY_PATH);
        int saved = errno;
        close(op->fd);
        errno = saved;
        return rc;
    }
    }
    errno = EINVAL;
    return -1;
}

// program_message.c, called by a warm box's init (spawn.c).
//
// Read the program message from the gate into the init's static memory and
// make the plan the program runs with: `base` with the message's program part.
// Returns 0, or -1 with errno set.
CS_HIDDEN int cs_read_program(int fd, const struct cs_plan *base, const struct cs_plan **out);
// Write the memory cs_read_program fills once, ahead of the gate (see spawn.c).
CS_HIDDEN void cs_program_touch(void);

#endif
