// Thin wrappers for Swift: system calls Glibc does not export to Swift
// (syscall() is variadic, pipe2 wants _GNU_SOURCE), returning -errno where
// they fail; file-system checks by statfs magic; and the clock cs_event.mono_ns
// is read from, so that Swift's times compare with the box's.
#define _GNU_SOURCE
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
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

int cs_is_tmpfs(const char *path) {
    struct statfs fs;
    return statfs(path, &fs) == 0 && fs.f_type == 0x01021994;   // TMPFS_MAGIC
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

// write(2) that never raises SIGPIPE in the caller: a box's stdin whose
// reader is gone answers EPIPE, and a library must not kill (or change the
// signal handling of) the process it lives in. SIGPIPE is blocked in this
// thread for the write; one the write raised is taken back before the mask
// is restored, one already pending is left alone.
ssize_t cs_write_nosigpipe(int fd, const void *buf, size_t len) {
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    ssize_t n;
    do { n = write(fd, buf, len); } while (n < 0 && errno == EINTR);
    int e = errno;
    if (n < 0 && e == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &zero) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n < 0 ? -e : n;
}

int cs_accept_cloexec(int listener) {
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

// recvmsg(2) of one message and the descriptors it carries (SCM_RIGHTS),
// received close-on-exec: up to `max_fds` land in `fds`, their number in
// `*n_fds` (any beyond are closed). Returns the bytes read, or -errno.
ssize_t cs_recv_with_fds(int sock, void *buf, size_t len, int *fds, int max_fds, int *n_fds) {
    char control[CMSG_SPACE(sizeof(int) * 16)];
    struct iovec iov = { buf, len };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    *n_fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *received = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            if (*n_fds < max_fds) fds[(*n_fds)++] = received[i];
            else close(received[i]);
        }
    }
    return n;
}

ssize_t cs_copy_file_range(int from, int to, size_t len) {
    ssize_t n = copy_file_range(from, NULL, to, NULL, len, 0);
    return n < 0 ? -errno : n;
}

ssize_t cs_getdents64(int fd, void *buf, size_t len) {
    ssize_t n;
    do { n = syscall(SYS_getdents64, fd, buf, len); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int cs_open_tree(const char *path, int recursive, uint64_t attr_set, int *failed) {
    *failed = 0;
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, flags);
    if (fd < 0) return -errno;
    // A clone of a shared mount would be a peer of the host's: mounts made
    // under it on either side would show on the other. Private, like every
    // mount of a box, and read-only (with what goes with it) when asked.
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = attr_set;
    attr.propagation = MS_PRIVATE;
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0) {
        int err = errno;
        close(fd);
        *failed = 1;
        return -err;
    }
    return fd;
}

int cs_epoll_new(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cs_epoll_watch(int epfd, int fd) {
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int cs_epoll_unwatch(int epfd, int fd) {
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

int cs_epoll_ready(int epfd, int *fds, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n;
    do { n = epoll_wait(epfd, events, max, timeout_ms); } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}
