// Thin wrappers for Swift: system calls Glibc does not export to Swift
// (syscall() is variadic, pipe2 wants _GNU_SOURCE), returning -errno where
// they fail; file-system checks by statfs magic; and the clock cs_event.mono_ns
// is read from, so that Swift's times compare with the box's.
#define _GNU_SOURCE
#include "internal.h"

#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>

// CLOCK_MONOTONIC in nanoseconds. Also the clock of the events and marks a
// box's init reports (spawn.c), where it is async-signal-safe (vDSO).
int64_t cs_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int cs_is_nsfs(const char *path) {
    struct statfs fs;
    return statfs(path, &fs) == 0 && fs.f_type == 0x6e736673;
}

int cs_is_cgroupfs(const char *path) {
    struct statfs fs;
    // CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC (linux/magic.h)
    return statfs(path, &fs) == 0 && (fs.f_type == 0x27e0eb || fs.f_type == 0x63677270);
}

int cs_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
}

int cs_pidfd_open(pid_t pid) {
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : fd;
}

int cs_pidfd_send_signal(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}
