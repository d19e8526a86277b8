// CSandbox: gradebox's C core. It holds what cannot be Swift, and no policy:
// every path, flag and number comes from a plan or argument that Swift
// computed beforehand.
//
// - The box (spawn.c): the child side of a clone() in a multi-threaded Swift
//   process may only run async-signal-safe code (no malloc, no stdio, no
//   locks), so everything between clone() and execve() lives here: the box's
//   init carries out a flat plan (cs_plan), forks the program and confines it.
//   Failures travel back to the parent as fixed-size events (cs_event) naming
//   the step and errno. A warm box's init also parses the program message its
//   gate carries (program_message.c).
// - The reaper (reaper.c): the libc-free image a one-shot box's init execs
//   once its program runs.
// - Namespaces made on a short-lived thread of their own (netns.c: network;
//   mount_template.c: a mount namespace whose root is an image): unshare()
//   moves only the calling thread, so that thread is a raw pthread that ends
//   right after, never one of Swift's pooled threads.
// - Thin wrappers for Swift (syscalls.c): calls Glibc does not export to it,
//   file-system checks, the events' clock.
//
// This header is the whole interface Swift sees; the files share their
// helpers through internal.h, which Swift does not see.
#ifndef CSANDBOX_H
#define CSANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

// What a mount-table entry asks for. Swift names each op for error messages.
enum cs_op_kind {
    CS_OP_MOUNT = 0,    // mount(source, target, fstype, flags, data)
    CS_OP_MKDIR = 1,    // mkdir(target, flags as the mode, or 0755 when 0)
    CS_OP_TOUCH = 2,    // open(target, O_CREAT) then close: a bind-mount target
    CS_OP_SYMLINK = 3,  // symlink(source, target)
    CS_OP_MKNOD = 4,    // mknod(target, character device flags >> 8 : flags & 0xff), then chmod 0666
    CS_OP_ATTACH = 5,   // move_mount(fd, target): a mount tree the caller opened (cs_open_tree), then close(fd)
};

struct cs_op {
    int32_t kind;
    int32_t optional;       // ENOENT on the target is tolerated (paths a kernel may lack)
    const char *source;
    const char *target;
    const char *fstype;
    const char *data;
    unsigned long flags;
    int32_t fd;             // CS_OP_ATTACH: the tree's descriptor (in the init's descriptor table)
};

struct cs_rlimit {
    int32_t resource;
    uint64_t soft;
    uint64_t hard;
};

// Steps that are not entries of the op list. Op i failing is reported as step i.
enum cs_step {
    CS_STEP_CLONE = -1,
    CS_STEP_USERMAP = -2,
    CS_STEP_SETNS_NET = -3,
    CS_STEP_CGROUP_JOIN = -4,
    CS_STEP_CGROUPNS = -5,
    CS_STEP_LOOPBACK = -6,
    CS_STEP_PIVOT = -7,
    CS_STEP_HOSTNAME = -8,
    CS_STEP_CHDIR = -9,
    CS_STEP_GATE = -10,
    CS_STEP_FORK = -11,
    CS_STEP_STDIO = -12,
    CS_STEP_RLIMIT = -13,
    CS_STEP_SETID = -14,
    CS_STEP_CAPS = -15,
    CS_STEP_NO_NEW_PRIVS = -16,
    CS_STEP_SECCOMP = -17,
    CS_STEP_EXEC = -18,
    CS_STEP_SETNS = -19,
    CS_STEP_PIDFD = -20,
    CS_STEP_PRIVATE_ROOT = -21,
    CS_STEP_PGID = -22,
    CS_STEP_UNSHARE_NET = -23,
    CS_STEP_BIND_NETNS = -24,
    CS_STEP_REAPER = -25,
    CS_STEP_MOUNT_TEMPLATE = -26,
};

// Events the box's init writes to status_fd, in this order:
// READY (only with a gate), then STARTED or FAILED, then EXITED.
enum cs_event_kind {
    CS_EV_READY = 1,    // set up, waiting at the gate
    CS_EV_STARTED = 2,  // the program passed execve
    CS_EV_FAILED = 3,   // step + err say what failed
    CS_EV_EXITED = 4,   // status is the program's wait status
    CS_EV_MARK = 5,     // step is a cs_mark: that part of the setup was done at mono_ns
};

// The named parts of a box's setup, timed in the box and reported as MARK
// events (all in one write, just before STARTED), in this order.
enum cs_mark {
    CS_MARK_INIT = 0,       // the init runs in its new namespaces (clone done)
    CS_MARK_JOINED = 1,     // ids mapped, network namespace and cgroups joined, lo up
    CS_MARK_MOUNTED = 2,    // the box's mount table is built
    CS_MARK_ROOTED = 3,     // pivoted into the image, old root detached, hostname, workdir
    CS_MARK_RELEASED = 4,   // the gate opened (create/start split), if there is one
    CS_MARK_FORKED = 5,     // the program's process exists
    CS_MARK_CONFINED = 6,   // rlimits, ids, capabilities, no_new_privs, seccomp: about to execve
    CS_MARK_COUNT = 7,
};

struct cs_event {
    int32_t kind;
    int32_t step;
    int32_t err;
    int32_t status;
    int64_t mono_ns;    // CLOCK_MONOTONIC when the event happened, in the box
    // CS_EV_EXITED: the program's CPU time in user and kernel mode (its
    // rusage, the children it waited for included), in microseconds; the
    // supervisor splits the box's CPU time with them without reading cgroupfs.
    int64_t user_us;
    int64_t sys_us;
};

struct cs_plan {
    uint64_t clone_flags;       // CLONE_NEW* for the box's init
    const int32_t *cgroup_procs_fds;  // cgroup.procs files the init writes "0" to
    int32_t n_cgroup_procs_fds;
    int32_t unshare_cgroupns;   // unshare(CLONE_NEWCGROUP) after joining the cgroup
    int32_t cgroup_by_program;  // the program joins the cgroup (and unshares) instead of the init
    int32_t netns_fd;           // setns() into this network namespace (warm pool), or -1
    int32_t netns_pipe_fd;      // or a namespace made beside the box (cs_netns_begin) arrives here, or -1:
    int32_t parent_pidfd;       // its descriptor number in the parent, taken with pidfd_getfd(parent_pidfd)
    int32_t loopback_up;        // bring lo up in a new network namespace
    const char *uid_map;        // written by the init itself (rootless: "0 <euid> 1")
    const char *gid_map;
    int32_t mount_template_fd;  // if >= 0 (and no CLONE_NEWNS): the box's mount namespace is a copy of
                                // this one (cs_mount_template), whose root is the image already
    const struct cs_op *ops;
    int32_t n_ops;
    const char *new_root;       // pivot_root target, or NULL
    const char *hostname;       // or NULL
    const char *workdir;
    int32_t gate_fd;            // if >= 0: report READY, then block until a byte arrives
    int32_t gate_program;       // the gate brings a program message (cs_program_msg) instead of a byte
    int32_t die_with_parent;    // PR_SET_PDEATHSIG(SIGKILL) on the init
    int32_t reaper_fd;          // if >= 0 (a box without a gate): the init shares the caller's memory
                                // (CLONE_VM|CLONE_VFORK) and, once the program runs, execs this
                                // image (cs_reaper_image_fd) to wait for it; -1: a plain clone

    // The program.
    const struct cs_rlimit *rlimits;
    int32_t n_rlimits;
    int32_t set_ids;
    uint32_t uid, gid;
    uint64_t caps_keep;         // bit n = capability n stays
    const void *seccomp_filter; // struct sock_filter[], or NULL
    uint16_t seccomp_len;
    const char *const *argv;    // NULL-terminated
    const char *const *envp;    // NULL-terminated
    const char *const *path;    // directories to search for argv[0] when it has no '/', NULL-terminated
    int32_t stdin_fd, stdout_fd, stderr_fd;   // become 0, 1, 2 of the program
    int32_t status_fd;          // events go here (a pipe, or a file for detached boxes)
};

// What a box made ahead of time (a warm box) receives at its gate: the
// program's part of the plan. The header is followed by n_rlimits
// cs_rlimit, seccomp_len sock_filter (8 bytes each), then argc + envc +
// pathc NUL-terminated strings, `length` bytes in all after the header.
#define CS_PROGRAM_MAGIC 0x67627870u   // "gbxp"
#define CS_PROGRAM_MAX 65536
struct cs_program_msg {
    uint32_t magic;
    uint32_t length;
    int32_t n_rlimits;
    int32_t set_ids;
    uint32_t uid, gid;
    uint64_t caps_keep;
    int32_t seccomp_len;
    int32_t argc, envc, pathc;
};

struct cs_child {
    pid_t pid;                  // the box's init (the program itself for cs_enter)
    int32_t pidfd;
};

// spawn.c: the box.

// Clone the box's init with the plan's namespaces; the init sets the box up,
// forks the program and reports events on plan->status_fd. Returns 0, or
// -errno when the clone itself failed.
int cs_spawn(const struct cs_plan *plan, struct cs_child *out);

// Start a program inside the running box whose init is `target_pidfd`: an
// intermediate child joins its namespaces (setns on the pidfd) and forks the
// program with CLONE_PARENT, so the caller can wait for it. Events (STARTED or
// FAILED) go to plan->status_fd; the caller waits for the program itself.
// The plan's clone_flags name the namespaces to join.
int cs_enter(int target_pidfd, const struct cs_plan *plan, struct cs_child *out);

// syscalls.c: a detached copy of the mount at `path` (open_tree with
// OPEN_TREE_CLONE, and AT_RECURSIVE when `recursive`), made private, with
// the MOUNT_ATTR_* bits of `attr_set` set on all of it (mount_setattr): what
// a box copied from a mount template attaches at a CS_OP_ATTACH. Its
// descriptor (close-on-exec), or -errno; *failed names the call that failed
// (0: open_tree, 1: mount_setattr).
int cs_open_tree(const char *path, int recursive, uint64_t attr_set, int *failed);

// reaper.c: the reaper.

// The reaper a one-shot box's init execs once its program runs (reaper.c):
// a descriptor of its image, made once per process. -errno where it cannot
// be had (an architecture without one: -ENOSYS); boxes then use a plain clone.
int cs_reaper_image_fd(void);

// netns.c: network namespaces.

// A new, empty network namespace (loopback up), made on a thread of its own
// while the caller sets the rest of the box up: the thread unshares, opens
// /proc/thread-self/ns/net and ends. When done it writes two int32 to
// notify_fd (the descriptor, or -errno, then the CS_STEP_* that failed) and
// closes it: the box's init picks it up from there (cs_plan.netns_pipe_fd).
// cs_netns_begin returns a handle, or NULL when no thread could be started
// (errno set; notify_fd is then the caller's to close). cs_netns_finish waits
// for the thread and returns the namespace's descriptor (close-on-exec) or
// -1. Every handle is finished exactly once. With notify_fd -1 nothing is
// written: the caller only finishes the job.
struct cs_netns_job;
struct cs_netns_job *cs_netns_begin(int notify_fd);
int cs_netns_finish(struct cs_netns_job *job);

// A new, empty network namespace (loopback up) bind-mounted on bind_target,
// made on a short-lived thread. Returns 0, or -errno with *err_step set.
int cs_unshare_netns_holder(const char *bind_target, int *err_step);

// mount_template.c: mount-namespace templates.

// A mount namespace made by carrying out `ops` (they mount an image on
// mount_point, see Planner.mountTemplateOps) and pivoting into mount_point:
// the template a box's namespace is copied from. Made on a short-lived
// thread (unshare, the ops, pivot_root, detach the old root). Returns its
// descriptor (close-on-exec), or -errno with *err_step set to the op index
// or CS_STEP_* that failed.
int cs_mount_template(const struct cs_op *ops, int n_ops, const char *mount_point, int *err_step);
// CLONE_NEW* of the namespace `fd` refers to, or -errno (not a namespace: -EINVAL or -ENOTTY).
int cs_namespace_type(int fd);

// syscalls.c: thin wrappers for Swift.

// Calls Glibc does not export to Swift; -errno where they fail.
int cs_pidfd_open(pid_t pid);
int cs_pidfd_send_signal(int pidfd, int sig);
int cs_pipe_cloexec(int fds[2]);
// recvmsg(2) of one message and up to max_fds descriptors it carries (SCM_RIGHTS, received
// close-on-exec; any beyond are closed): the bytes read, or -errno.
ssize_t cs_recv_with_fds(int sock, void *buf, size_t len, int *fds, int max_fds, int *n_fds);

// accept4(2) of a connection, close-on-exec; -errno on failure.
int cs_accept_cloexec(int listener);
// write(2) without SIGPIPE in the caller (EPIPE is returned as -EPIPE); -errno where it fails.
ssize_t cs_write_nosigpipe(int fd, const void *buf, size_t len);
// copy_file_range(2) from and to the descriptors' offsets (_GNU_SOURCE): bytes copied, or -errno.
ssize_t cs_copy_file_range(int from, int to, size_t len);
// getdents64(2) from the descriptor's offset into buf: bytes filled (0 at the end), or -errno.
// Each record is a struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name.
ssize_t cs_getdents64(int fd, void *buf, size_t len);
// epoll(7) with the descriptor itself as each event's data (struct epoll_event is packed on
// x86-64, which Swift does not import): 0 or -errno.
int cs_epoll_new(void);   // close-on-exec; or -errno
int cs_epoll_watch(int epfd, int fd);
int cs_epoll_unwatch(int epfd, int fd);
// epoll_wait(2) of up to `max` descriptors that are ready: their number, or -errno (EINTR retried).
int cs_epoll_ready(int epfd, int *fds, int max, int timeout_ms);
// CLOCK_MONOTONIC in nanoseconds: the clock of cs_event.mono_ns.
int64_t cs_monotonic_ns(void);
// 1 when path is a network namespace (an nsfs bind mount), else 0.
int cs_is_nsfs(const char *path);
// 1 when path is the root or a directory of a cgroup (v1 or v2) file system, else 0.
int cs_is_cgroupfs(const char *path);
// 1 when path is on a tmpfs, else 0.
int cs_is_tmpfs(const char *path);

#ifdef __cplusplus
}
#endif
#endif
