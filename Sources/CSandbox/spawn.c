// The box: cs_spawn clones its init, which sets the box up from the plan and
// starts the program; cs_enter starts a program in a running box. Here are
// the init's steps, the program's steps up to execve, and the pool of stacks
// an init that shares the caller's memory runs on.
//
// C because it runs in the child of a clone() made by a possibly
// multi-threaded process: only async-signal-safe calls, no malloc, no stdio,
// no locks. Every failure is reported as an event naming the step and errno,
// then the child exits.
#define _GNU_SOURCE
#include "internal.h"

#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/wait.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

static void cs_emit(int fd, int32_t kind, int32_t step, int32_t err, int32_t status) {
    struct cs_event ev = { kind, step, err, status, cs_monotonic_ns(), 0, 0 };
    cs_write_all(fd, &ev, sizeof ev);
}

// Report and leave. 127 mirrors a shell's "could not run".
static void cs_fail(int fd, int32_t step, int err) {
    signal(SIGPIPE, SIG_IGN);
    cs_emit(fd, CS_EV_FAILED, step, err, 0);
    _exit(127);
}

static int cs_write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    if (n != (ssize_t)len) { errno = n < 0 ? saved : EIO; return -1; }
    return 0;
}

// Capabilities, in two halves around the id change: the bounding set and
// the ambient set first (dropping from the bounding set needs CAP_SETPCAP,
// which a non-root uid no longer has), the three sets after it.
static int cs_drop_bounding(uint64_t keep) {
    for (int cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) break;   // past the kernel's last capability
            return -1;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    return 0;
}

static int cs_set_caps(uint64_t keep) {
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    for (int i = 0; i < 2; i++) {
        uint32_t bits = (uint32_t)(keep >> (32 * i));
        data[i].effective = bits;
        data[i].permitted = bits;
        data[i].inheritable = bits;
    }
    return (int)syscall(SYS_capset, &hdr, data);
}

// Join the cgroup before unsharing the cgroup namespace, so the box sees its
// own group as the root. Done by the init, whose children all inherit it; or,
// in a one-shot box, by the program alone: the init then stays outside, and
// once the program is done its group can be removed while the init is still
// tearing the box's mounts and namespaces down.
static void cs_join_cgroup(const struct cs_plan *plan, int errfd) {
    for (int i = 0; i < plan->n_cgroup_procs_fds; i++) {
        ssize_t n;
        do { n = pwrite(plan->cgroup_procs_fds[i], "0", 1, 0); } while (n < 0 && errno == EINTR);
        if (n != 1) cs_fail(errfd, CS_STEP_CGROUP_JOIN, n < 0 ? errno : EIO);
    }
    if (plan->unshare_cgroupns && unshare(CLONE_NEWCGROUP) < 0) cs_fail(errfd, CS_STEP_CGROUPNS, errno);
}

// The program's last steps: stdio, limits, identity, privileges, execve.
// Order: rlimits and ids need privileges that the capability drop removes;
// no_new_privs must precede seccomp for an unprivileged filter load; seccomp
// comes last so the filter does not have to allow the setup syscalls.
static void cs_exec_program(const struct cs_plan *plan, int errfd, int64_t *marks) {
    // Defaults first, then unblock: a handler of the caller must never run
    // here (the init may share its memory with us). Dispositions set to
    // SIG_IGN survive execve too (this host's pid 1 ignores SIGPIPE, and
    // every process inherits that).
    for (int sig = 1; sig < 65; sig++) signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (plan->cgroup_by_program) cs_join_cgroup(plan, errfd);
    if (plan->stdin_fd >= 0 && dup2(plan->stdin_fd, 0) < 0) cs_fail(errfd, CS_STEP_STDIO, errno);
    if (plan->stdout_fd >= 0 && dup2(plan->stdout_fd, 1) < 0) cs_fail(errfd, CS_STEP_STDIO, errno);
    if (plan->stderr_fd >= 0 && dup2(plan->stderr_fd, 2) < 0) cs_fail(errfd, CS_STEP_STDIO, errno);
    // Whatever else the caller had open must not reach the program.
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) cs_fail(errfd, CS_STEP_STDIO, errno);

    for (int i = 0; i < plan->n_rlimits; i++) {
        struct rlimit rl = { (rlim_t)plan->rlimits[i].soft, (rlim_t)plan->rlimits[i].hard };
        if (setrlimit(plan->rlimits[i].resource, &rl) < 0) cs_fail(errfd, CS_STEP_RLIMIT, errno);
    }
    if (cs_drop_bounding(plan->caps_keep) < 0) cs_fail(errfd, CS_STEP_CAPS, errno);
    // Raw syscalls: glibc's wrappers broadcast id changes to every thread it
    // believes the process has, and in this child those threads do not exist.
    if (plan->set_ids) {
        if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) cs_fail(errfd, CS_STEP_SETID, errno);
        if (syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) < 0) cs_fail(errfd, CS_STEP_SETID, errno);
        if (syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) < 0) cs_fail(errfd, CS_STEP_SETID, errno);
    }
    if (cs_set_caps(plan->caps_keep) < 0) cs_fail(errfd, CS_STEP_CAPS, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) cs_fail(errfd, CS_STEP_NO_NEW_PRIVS, errno);
    if (plan->seccomp_filter && plan->seccomp_len > 0) {
        struct sock_fprog prog = { plan->seccomp_len, (struct sock_filter *)plan->seccomp_filter };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) cs_fail(errfd, CS_STEP_SECCOMP, errno);
    }

    if (marks) marks[CS_MARK_CONFINED] = cs_monotonic_ns();

    const char *file = plan->argv[0];
    char *const *argv = (char *const *)plan->argv;
    char *const *envp = (char *const *)plan->envp;
    if (strchr(file, '/') || !plan->path) {
        execve(file, argv, envp);
        cs_fail(errfd, CS_STEP_EXEC, errno);
    }
    // PATH search by hand: glibc's execvpe reads PATH from our environment,
    // not from the box's.
    int last = ENOENT;
    size_t flen = strlen(file);
    for (const char *const *dir = plan->path; *dir; dir++) {
        char buf[4096];
        size_t dlen = strlen(*dir);
        if (dlen + flen + 2 > sizeof buf) continue;
        memcpy(buf, *dir, dlen);
        buf[dlen] = '/';
        memcpy(buf + dlen + 1, file, flen + 1);
        execve(buf, argv, envp);
        if (errno != ENOENT && errno != ENOTDIR) last = errno;
    }
    cs_fail(errfd, CS_STEP_EXEC, last);
}

static volatile sig_atomic_t cs_term_requested;
static void cs_on_term(int sig) { (void)sig; cs_term_requested = 1; }

// The program's process shares the init's memory until it execs (vfork, as
// posix_spawn does): no page tables to copy, no copy-on-write faults, and
// the init waits in the kernel until the program passed execve or failed.
// glibc's clone() wrapper only switches the stack: it takes no lock and
// runs no atfork handler, which a raw clone3 child of a threaded process
// must not (a copied malloc lock hung a box once).
struct cs_prog_args {
    const struct cs_plan *plan;
    int errfd;
    int64_t *marks;
};

static char cs_prog_stack[64 * 1024] __attribute__((aligned(16)));
// Its top pages, written ahead of a warm box's gate (see cs_init_main).
#define CS_PROG_STACK_TOUCHED (16 * 1024)

static int cs_prog_main(void *p) {
    struct cs_prog_args *a = p;
    a->marks[CS_MARK_FORKED] = cs_monotonic_ns();
    cs_exec_program(a->plan, a->errfd, a->marks);
    return 127;
}

// MARK events for the parts that happened, and STARTED, in one write.
static void cs_emit_started(int evfd, const int64_t *marks) {
    struct cs_event evs[CS_MARK_COUNT + 1];
    int n = 0;
    for (int i = 0; i < CS_MARK_COUNT; i++) {
        if (!marks[i]) continue;
        struct cs_event ev = { CS_EV_MARK, i, 0, 0, marks[i] };
        evs[n++] = ev;
    }
    struct cs_event started = { CS_EV_STARTED, 0, 0, 0, cs_monotonic_ns() };
    evs[n++] = started;
    cs_write_all(evfd, evs, (size_t)n * sizeof evs[0]);
}

// An init that shares the caller's memory hands its waiting over to the
// reaper (reaper.c) by exec: the caller, asleep since the clone, wakes up.
static void cs_become_reaper(const struct cs_plan *plan, int evfd, pid_t prog) {
    char fd_text[24], pid_text[24];
    cs_decimal(evfd, fd_text);
    cs_decimal(prog, pid_text);
    const char *argv[] = { "gradebox-reaper", fd_text, pid_text, NULL };
    const char *envp[] = { NULL };
    int flags = fcntl(evfd, F_GETFD);
    if (flags < 0 || fcntl(evfd, F_SETFD, flags & ~FD_CLOEXEC) < 0
        || syscall(SYS_execveat, plan->reaper_fd, "", argv, envp, AT_EMPTY_PATH) < 0) {
        int e = errno;
        kill(prog, SIGKILL);
        waitpid(prog, NULL, 0);
        cs_fail(evfd, CS_STEP_REAPER, e);
    }
}

// Start the program, wait until it passed execve, then reap everything until
// it exits. Being pid 1, the init also reaps orphans the program leaves.
static void cs_init_run(const struct cs_plan *plan, int evfd, int64_t *marks, char *shared_stack_top) {
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) < 0) cs_fail(evfd, CS_STEP_FORK, errno);
    struct cs_prog_args args = { plan, errpipe[1], marks };
    // No signal may reach a handler while the two share memory; the program
    // unblocks once it has default dispositions.
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    // An init that shares the caller's memory must not use the static stack:
    // another thread's box may be using it at the same moment.
    char *stack_top = shared_stack_top ? shared_stack_top : cs_prog_stack + sizeof cs_prog_stack;
    pid_t prog = clone(cs_prog_main, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    int forkErr = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (prog < 0) cs_fail(evfd, CS_STEP_FORK, forkErr);
    close(errpipe[1]);
    struct cs_event ev;
    ssize_t n;
    do { n = read(errpipe[0], &ev, sizeof ev); } while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof ev) {
        cs_write_all(evfd, &ev, sizeof ev);
        waitpid(prog, NULL, 0);
        _exit(127);
    }
    cs_emit_started(evfd, marks);

    // The init keeps no copy of the program's output pipes, so the reader
    // sees end-of-file when the program and its children are done.
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        close(devnull);
    }
    if (plan->stdout_fd > 2) close(plan->stdout_fd);
    if (plan->stderr_fd > 2) close(plan->stderr_fd);
    if (plan->stdin_fd > 2) close(plan->stdin_fd);

    if (shared_stack_top) cs_become_reaper(plan, evfd, prog);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cs_on_term;
    sigaction(SIGTERM, &sa, NULL);
    for (;;) {
        int st;
        struct rusage ru;
        pid_t w = wait4(-1, &st, 0, &ru);
        if (w < 0 && errno == EINTR) {
            if (cs_term_requested) { kill(prog, SIGTERM); cs_term_requested = 0; }
            continue;
        }
        if (w < 0) _exit(0);
        if (w == prog) {
            struct cs_event ev = { CS_EV_EXITED, 0, 0, st, cs_monotonic_ns(),
                                   (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
                                   (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec };
            cs_write_all(evfd, &ev, sizeof ev);
            // Returning ends the pid namespace: the kernel kills what is left.
            _exit(0);
        }
    }
}

// Close every descriptor but the plan's. A fork copies all of the parent's
// descriptors, close-on-exec or not, and the init never execs: without this,
// a box started concurrently from another thread would keep this box's
// output pipes open, and the other way round.
static void cs_close_others(const struct cs_plan *plan) {
    int keep[16 + 64];
    int n = 0;
    int fixed[] = { plan->status_fd, plan->gate_fd, plan->stdin_fd, plan->stdout_fd,
                    plan->stderr_fd, plan->netns_fd, plan->netns_pipe_fd, plan->parent_pidfd,
                    plan->reaper_fd, plan->mount_template_fd };
    for (unsigned i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i] >= 0) keep[n++] = fixed[i];
    for (int i = 0; i < plan->n_cgroup_procs_fds && n < (int)(sizeof keep / sizeof keep[0]); i++)
        keep[n++] = plan->cgroup_procs_fds[i];
    for (int i = 0; i < plan->n_ops && n < (int)(sizeof keep / sizeof keep[0]); i++)
        if (plan->ops[i].kind == CS_OP_ATTACH) keep[n++] = plan->ops[i].fd;
    // Insertion sort: a handful of entries.
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) { int t = keep[j]; keep[j] = keep[j - 1]; keep[j - 1] = t; }
    unsigned int from = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)from) continue;
        if ((unsigned)keep[i] > from) syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0);
}

// A warm box's init that shares its caller's memory leaves it now, set up:
// it execs the gate (reaper.c), which waits for the program there. The
// descriptors the gate keeps lose close-on-exec; the rest close.
static void cs_become_gate(const struct cs_plan *plan, int evfd) {
    int fds[5] = { evfd, plan->gate_fd, plan->stdin_fd, plan->stdout_fd, plan->stderr_fd };
    char text[5][24];
    for (int i = 0; i < 5; i++) {
        if (fds[i] < 0) { text[i][0] = '-'; text[i][1] = '1'; text[i][2] = 0; continue; }
        cs_decimal(fds[i], text[i]);
        int flags = fcntl(fds[i], F_GETFD);
        if (flags < 0 || fcntl(fds[i], F_SETFD, flags & ~FD_CLOEXEC) < 0) cs_fail(evfd, CS_STEP_REAPER, errno);
    }
    const char *argv[] = { "gradebox-gate", text[0], text[1], text[2], text[3], text[4], NULL };
    const char *envp[] = { NULL };
    syscall(SYS_execveat, plan->reaper_fd, "", argv, envp, AT_EMPTY_PATH);
    cs_fail(evfd, CS_STEP_REAPER, errno);
}

static void cs_init_main(const struct cs_plan *plan, char *shared_stack_top) {
    int64_t marks[CS_MARK_COUNT] = { cs_monotonic_ns() };
    int evfd = plan->status_fd;
    cs_close_others(plan);
    if (plan->die_with_parent) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

    // A user namespace starts with no ids mapped: map ourselves first, since
    // everything after needs the capabilities that come with uid 0 inside.
    if (plan->uid_map) {
        if (cs_write_file("/proc/self/setgroups", "deny") < 0 && errno != ENOENT) cs_fail(evfd, CS_STEP_USERMAP, errno);
        if (cs_write_file("/proc/self/uid_map", plan->uid_map) < 0) cs_fail(evfd, CS_STEP_USERMAP, errno);
        if (plan->gid_map && cs_write_file("/proc/self/gid_map", plan->gid_map) < 0) cs_fail(evfd, CS_STEP_USERMAP, errno);
    }
    if (plan->netns_fd >= 0 && setns(plan->netns_fd, CLONE_NEWNET) < 0) cs_fail(evfd, CS_STEP_SETNS_NET, errno);
    if (!plan->cgroup_by_program) cs_join_cgroup(plan, evfd);
    if (plan->loopback_up && cs_loopback_up() < 0) cs_fail(evfd, CS_STEP_LOOPBACK, errno);
    marks[CS_MARK_JOINED] = cs_monotonic_ns();

    if (plan->mount_template_fd >= 0) {
        // A copy of the image's template: its root is the image, read-only,
        // and private (so is the copy). No host mount is copied, none is
        // detached later, and there is nothing to pivot from.
        if (setns(plan->mount_template_fd, CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0)
            cs_fail(evfd, CS_STEP_MOUNT_TEMPLATE, errno);
        close(plan->mount_template_fd);
    } else if (plan->clone_flags & CLONE_NEWNS) {
        // Nothing we mount may propagate back to the host.
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) cs_fail(evfd, CS_STEP_PRIVATE_ROOT, errno);
    }
    for (int i = 0; i < plan->n_ops; i++) {
        if (cs_do_op(&plan->ops[i]) < 0) {
            if (plan->ops[i].optional && errno == ENOENT) continue;
            cs_fail(evfd, i, errno);
        }
    }
    marks[CS_MARK_MOUNTED] = cs_monotonic_ns();
    if (plan->new_root) {
        // pivot_root(".", ".") stacks the old root on the new one; detaching
        // it leaves only the new root (runc's trick: no put_old directory).
        if (chdir(plan->new_root) < 0) cs_fail(evfd, CS_STEP_PIVOT, errno);
        if (syscall(SYS_pivot_root, ".", ".") < 0) cs_fail(evfd, CS_STEP_PIVOT, errno);
        if (umount2(".", MNT_DETACH) < 0) cs_fail(evfd, CS_STEP_PIVOT, errno);
        if (chdir("/") < 0) cs_fail(evfd, CS_STEP_PIVOT, errno);
    }
    if (plan->hostname && sethostname(plan->hostname, strlen(plan->hostname)) < 0) cs_fail(evfd, CS_STEP_HOSTNAME, errno);
    if (plan->workdir && chdir(plan->workdir) < 0) cs_fail(evfd, CS_STEP_CHDIR, errno);
    // The network made beside the box, joined as late as possible so that its
    // making overlaps the clone and the mounts. It is taken from the parent by
    // descriptor (pidfd_getfd), never by path: the host's /proc is gone here.
    if (plan->netns_pipe_fd >= 0) {
        int32_t msg[2];
        size_t got = 0;
        while (got < sizeof msg) {
            ssize_t n = read(plan->netns_pipe_fd, (char *)msg + got, sizeof msg - got);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) cs_fail(evfd, CS_STEP_SETNS_NET, n < 0 ? errno : EPIPE);
            got += (size_t)n;
        }
        // Where the thread failed, or taking a descriptor from the parent is
        // refused (Yama's ptrace_scope 3, an LSM), the init makes its own.
        int fd = msg[0] >= 0 ? (int)syscall(SYS_pidfd_getfd, plan->parent_pidfd, msg[0], 0) : -1;
        if (fd >= 0) {
            if (setns(fd, CLONE_NEWNET) < 0) cs_fail(evfd, CS_STEP_SETNS_NET, errno);
            close(fd);
        } else {
            if (unshare(CLONE_NEWNET) < 0) cs_fail(evfd, CS_STEP_UNSHARE_NET, errno);
            if (cs_loopback_up() < 0) cs_fail(evfd, CS_STEP_LOOPBACK, errno);
        }
        close(plan->netns_pipe_fd);
        close(plan->parent_pidfd);
    }
    marks[CS_MARK_ROOTED] = cs_monotonic_ns();

    if (plan->gate_fd >= 0) {
        // A warm box loads its filter now, ahead of its run: the kernel's
        // compile of it is a good part of a program's start. Every call the
        // init makes from here on is one the filter allows.
        if (plan->gate_program && plan->seccomp_filter && plan->seccomp_len > 0) {
            struct sock_fprog prog = { plan->seccomp_len, (struct sock_filter *)plan->seccomp_filter };
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) cs_fail(evfd, CS_STEP_SECCOMP, errno);
        }
        // Sharing the caller's memory, the init hands the waiting to the gate image.
        if (plan->gate_program && shared_stack_top) cs_become_gate(plan, evfd);
        // This init is a copy of its caller (a plain clone): the first write
        // to a page it still shares with the caller copies that page, several
        // microseconds each here. The memory the run writes (the program
        // message, the program's stack) is copied now, ahead of the gate.
        if (plan->gate_program) {
            cs_program_touch();
            memset(cs_prog_stack + sizeof cs_prog_stack - CS_PROG_STACK_TOUCHED, 0, CS_PROG_STACK_TOUCHED);
        }
        cs_emit(evfd, CS_EV_READY, 0, 0, 0);
        if (plan->gate_program) {
            if (cs_read_program(plan->gate_fd, plan, &plan) < 0) cs_fail(evfd, CS_STEP_GATE, errno);
            // The box was made ahead of time: its set-up is not part of this run.
            for (int i = CS_MARK_INIT; i <= CS_MARK_ROOTED; i++) marks[i] = 0;
        } else {
            char byte;
            ssize_t n;
            do { n = read(plan->gate_fd, &byte, 1); } while (n < 0 && errno == EINTR);
            if (n != 1) cs_fail(evfd, CS_STEP_GATE, n < 0 ? errno : EPIPE);
        }
        close(plan->gate_fd);
        marks[CS_MARK_RELEASED] = cs_monotonic_ns();
    }
    cs_init_run(plan, evfd, marks, shared_stack_top);
}

// Stacks for inits that share the caller's memory: the init's own on top,
// its program's below. Reused, so their pages are faulted in once (each
// fault a page-table change, which this kind of VM charges for).
#define CS_SHARED_STACK (192 * 1024)
#define CS_SHARED_PROG_STACK (64 * 1024)
static pthread_mutex_t cs_stacks_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cs_stacks[4];
static int cs_n_stacks;

static char *cs_stack_take(void) {
    char *stack = NULL;
    pthread_mutex_lock(&cs_stacks_lock);
    if (cs_n_stacks > 0) stack = cs_stacks[--cs_n_stacks];
    pthread_mutex_unlock(&cs_stacks_lock);
    return stack ? stack : aligned_alloc(64, CS_SHARED_STACK);
}

static void cs_stack_give(char *stack) {
    pthread_mutex_lock(&cs_stacks_lock);
    if (cs_n_stacks < (int)(sizeof cs_stacks / sizeof cs_stacks[0])) {
        cs_stacks[cs_n_stacks++] = stack;
        stack = NULL;
    }
    pthread_mutex_unlock(&cs_stacks_lock);
    free(stack);
}

struct cs_shared_args {
    const struct cs_plan *plan;
    char *prog_stack_top;
};

static int cs_shared_init_main(void *p) {
    struct cs_shared_args *a = p;
    cs_init_main(a->plan, a->prog_stack_top);
    _exit(127);
}

// The init shares the caller's memory (CLONE_VM|CLONE_VFORK, as posix_spawn
// does): no page tables are copied, and none are torn down when the box ends,
// since the init has exec'd the reaper by then. The calling thread sleeps
// until that exec, or until the init failed and exited. glibc's clone()
// wrapper only switches stacks: no locks, no atfork handlers.
static int cs_spawn_shared(const struct cs_plan *plan, struct cs_child *out) {
    char *stack = cs_stack_take();
    if (!stack) return -ENOMEM;
    struct cs_shared_args args = { plan, stack + CS_SHARED_PROG_STACK };
    // No handler of ours may run in the init while it shares our memory;
    // the program unblocks once its dispositions are the defaults.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    pid_t pid = clone(cs_shared_init_main, stack + CS_SHARED_STACK,
                      (int)plan->clone_flags | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, &args, &pidfd);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    cs_stack_give(stack);
    if (pid < 0) return -err;
    out->pid = pid;
    out->pidfd = pidfd;
    return 0;
}

int cs_spawn(const struct cs_plan *plan, struct cs_child *out) {
    // A one-shot box, or a warm box whose gate is the reaper's image: the
    // init shares our memory until it execs that image.
    if (plan->reaper_fd >= 0 && (plan->gate_fd < 0 || plan->gate_program)) return cs_spawn_shared(plan, out);
    struct clone_args args;
    memset(&args, 0, sizeof args);
    int pidfd = -1;
    args.flags = plan->clone_flags | CLONE_PIDFD;
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) return -errno;
    if (pid == 0) {
        cs_init_main(plan, NULL);
        _exit(127);
    }
    out->pid = (pid_t)pid;
    out->pidfd = pidfd;
    return 0;
}

int cs_enter(int target_pidfd, const struct cs_plan *plan, struct cs_child *out) {
    int pidpipe[2];
    if (pipe2(pidpipe, O_CLOEXEC) < 0) return -errno;
    pid_t mid = fork();
    if (mid < 0) {
        int e = errno;
        close(pidpipe[0]);
        close(pidpipe[1]);
        return -e;
    }
    if (mid == 0) {
        int evfd = plan->status_fd;
        close(pidpipe[0]);
        for (int i = 0; i < plan->n_cgroup_procs_fds; i++) {
            ssize_t n = pwrite(plan->cgroup_procs_fds[i], "0", 1, 0);
            if (n != 1) cs_fail(evfd, CS_STEP_CGROUP_JOIN, n < 0 ? errno : EIO);
        }
        if (setns(target_pidfd, (int)plan->clone_flags) < 0) cs_fail(evfd, CS_STEP_SETNS, errno);
        if (plan->workdir && chdir(plan->workdir) < 0) cs_fail(evfd, CS_STEP_CHDIR, errno);
        // The new pid namespace applies to our children only: the program is
        // forked once more, as a sibling of ours (CLONE_PARENT), so the
        // caller can wait for it directly.
        int errpipe[2];
        if (pipe2(errpipe, O_CLOEXEC) < 0) cs_fail(evfd, CS_STEP_FORK, errno);
        struct clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = CLONE_PARENT;
        // With CLONE_PARENT the kernel takes the exit signal from us (SIGCHLD).
        args.exit_signal = 0;
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid < 0) cs_fail(evfd, CS_STEP_FORK, errno);
        if (pid == 0) {
            close(errpipe[0]);
            // Its own process group, so a time limit can kill it with its children.
            if (setpgid(0, 0) < 0) cs_fail(errpipe[1], CS_STEP_PGID, errno);
            cs_exec_program(plan, errpipe[1], NULL);
        }
        close(errpipe[1]);
        pid_t p = (pid_t)pid;
        cs_write_all(pidpipe[1], &p, sizeof p);
        struct cs_event ev;
        ssize_t n;
        do { n = read(errpipe[0], &ev, sizeof ev); } while (n < 0 && errno == EINTR);
        if (n == (ssize_t)sizeof ev) {
            cs_write_all(evfd, &ev, sizeof ev);
            _exit(127);
        }
        cs_emit(evfd, CS_EV_STARTED, 0, 0, 0);
        _exit(0);
    }
    close(pidpipe[1]);
    pid_t prog = -1;
    ssize_t n;
    do { n = read(pidpipe[0], &prog, sizeof prog); } while (n < 0 && errno == EINTR);
    close(pidpipe[0]);
    int st;
    while (waitpid(mid, &st, 0) < 0 && errno == EINTR) {}
    if (n != (ssize_t)sizeof prog) {
        // The intermediate failed before forking; its FAILED event says why.
        out->pid = -1;
        out->pidfd = -1;
        return 0;
    }
    out->pid = prog;
    out->pidfd = (int32_t)syscall(SYS_pidfd_open, prog, 0);
    return 0;
}
