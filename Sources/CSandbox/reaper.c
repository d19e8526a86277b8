// The reaper: what a one-shot box's init becomes once its program runs.
//
// A one-shot box's init is cloned with CLONE_VM|CLONE_VFORK (cs_spawn): it
// shares the caller's memory instead of copying its page tables, which on
// this kind of VM cost ~0.5 ms at the clone and as much again when the init
// exited and tore its copy down. Sharing memory, the init cannot stay: the
// caller sleeps until it execs. So once the program has passed execve, the
// init execs this reaper, a program of a few hundred bytes with no libc:
// being pid 1 it reaps whatever is orphaned in the box, reports the program's
// exit on the event pipe, and exits, which ends the box.
//
// The same image is a warm box's gate (cs_gate_main): a warm box's init
// shares the caller's memory too, sets the box up, then execs this image,
// which waits at the gate for the program message, starts the program as
// the init would have (cs_exec_program in spawn.c, here with raw syscalls),
// then reaps as above. The caller's page tables are never copied, and its
// pages are not left copy-on-write while the box waits.
//
// The reaper's code is the section "cs_reaper" of this library (the linker
// names its bounds __start_cs_reaper and __stop_cs_reaper). cs_reaper_image_fd
// wraps it in a minimal ELF header in a memfd once per process; the init
// execs that with execveat. Everything in the section is position independent
// and self-contained: raw syscalls, no calls out, no data, no stack protector.
#define _GNU_SOURCE
#include "csandbox.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__aarch64__)
#define CS_HAS_REAPER 1

#define CS_REAPER __attribute__((section("cs_reaper"), used, no_stack_protector, visibility("hidden")))
// Its functions are compiled as at -O0 in every build: the optimizer turns
// loops and local arrays into calls to strlen, memset and memcpy, and
// constants into loads from .rodata, none of which this image has.
#define CS_REAPER_FN CS_REAPER __attribute__((optnone, noinline))

// Five arguments: the fifth is always passed (0 when unused), since some
// calls (prctl's PR_SET_NO_NEW_PRIVS) refuse anything else there.
#if defined(__x86_64__)
static inline __attribute__((always_inline)) long cs_r_sys5(long n, long a, long b, long c, long d, long e) {
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
    return r;
}
#else
static inline __attribute__((always_inline)) long cs_r_sys5(long n, long a, long b, long c, long d, long e) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
}
#endif

static inline __attribute__((always_inline)) long cs_r_sys(long n, long a, long b, long c, long d) {
    return cs_r_sys5(n, a, b, c, d, 0);
}

static inline __attribute__((always_inline)) long cs_r_number(const char *s) {
    long v = 0;
    if (!s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static inline __attribute__((always_inline)) int64_t cs_r_now(void) {
    struct timespec ts;
    cs_r_sys(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// One event, in one write of less than PIPE_BUF: all of it or nothing.
CS_REAPER_FN static void cs_r_emit(long fd, int32_t kind, int32_t step, int32_t err, int64_t when) {
    struct cs_event ev;
    ev.kind = kind;
    ev.step = step;
    ev.err = err;
    ev.status = 0;
    ev.mono_ns = when;
    ev.user_us = 0;
    ev.sys_us = 0;
    cs_r_sys(SYS_write, fd, (long)&ev, sizeof ev, 0);
}

CS_REAPER_FN __attribute__((noreturn)) static void cs_r_fail(long fd, int32_t step, long err) {
    cs_r_emit(fd, CS_EV_FAILED, step, (int32_t)-err, 0);
    cs_r_sys(SYS_exit_group, 127, 0, 0, 0);
    __builtin_unreachable();
}

CS_REAPER_FN __attribute__((noreturn)) static void cs_reap(long evfd, long prog) {
    for (;;) {
        int status = 0;
        struct rusage ru;
        long w = cs_r_sys(SYS_wait4, -1, (long)&status, 0, (long)&ru);
        if (w == -EINTR) continue;
        if (w < 0) cs_r_sys(SYS_exit_group, 0, 0, 0, 0);
        if (w != prog) continue;
        struct timespec ts;
        cs_r_sys(SYS_clock_gettime, CLOCK_MONOTONIC, (long)&ts, 0, 0);
        struct cs_event ev;
        ev.kind = CS_EV_EXITED;
        ev.step = 0;
        ev.err = 0;
        ev.status = status;
        ev.mono_ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        ev.user_us = (int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec;
        ev.sys_us = (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
        // One write of less than PIPE_BUF: all of it or nothing.
        cs_r_sys(SYS_write, evfd, (long)&ev, sizeof ev, 0);
        // Exiting ends the pid namespace: the kernel kills what is left.
        cs_r_sys(SYS_exit_group, 0, 0, 0, 0);
    }
}

// Reads exactly `len` bytes; 0, or -errno (-EPIPE at end of file).
CS_REAPER_FN static long cs_r_read_all(long fd, char *buf, unsigned long len) {
    unsigned long got = 0;
    while (got < len) {
        long n = cs_r_sys(SYS_read, fd, (long)(buf + got), (long)(len - got), 0);
        if (n == -EINTR) continue;
        if (n <= 0) return n < 0 ? n : -EPIPE;
        got += (unsigned long)n;
    }
    return 0;
}

// The program's side of the fork: what cs_exec_program does, with raw
// syscalls. Failures go to `errfd` as FAILED events; success is its closing
// on execve (close-on-exec), after a MARK for the confinement's end.
CS_REAPER_FN __attribute__((noreturn)) static void cs_gate_child(const struct cs_program_msg *h, const struct cs_rlimit *rl,
                                                              const char *const *argv, const char *const *envp,
                                                              const char *const *path, const void *filter,
                                                              long in, long out, long err, long errfd) {
    // No initializers of arrays or structs in this file's section, and no
    // struct copies: at -O0 the compiler makes calls to memset and memcpy of
    // them, which this image does not have.
    // Default dispositions (SIG_IGN survives execve), then nothing blocked.
    long action[4];   // SIG_DFL, no flags, no restorer, empty mask
    action[0] = 0; action[1] = 0; action[2] = 0; action[3] = 0;
    for (long sig = 1; sig <= 64; sig++) cs_r_sys(SYS_rt_sigaction, sig, (long)action, 0, 8);
    unsigned long none = 0;
    cs_r_sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8);
    long fds[3];
    fds[0] = in; fds[1] = out; fds[2] = err;
    for (long i = 0; i < 3; i++) {
        if (fds[i] < 0) { cs_r_sys(SYS_close, i, 0, 0, 0); continue; }   // never the init's own
        long r = fds[i] == i ? cs_r_sys(SYS_fcntl, i, F_SETFD, 0, 0) : cs_r_sys(SYS_dup3, fds[i], i, 0, 0);
        if (r < 0) cs_r_fail(errfd, CS_STEP_STDIO, r);
    }
    // Whatever else the init had open must not reach the program.
    long r = cs_r_sys(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */, 0);
    if (r < 0) cs_r_fail(errfd, CS_STEP_STDIO, r);
    for (int i = 0; i < h->n_rlimits; i++) {
        unsigned long lim[2];
        lim[0] = rl[i].soft;
        lim[1] = rl[i].hard;
        r = cs_r_sys(SYS_prlimit64, 0, rl[i].resource, (long)lim, 0);
        if (r < 0) cs_r_fail(errfd, CS_STEP_RLIMIT, r);
    }
    // The bounding set and ambient set before the id change (dropping needs CAP_SETPCAP).
    for (long cap = 0; cap < 64; cap++) {
        if (h->caps_keep & (1ULL << cap)) continue;
        r = cs_r_sys(SYS_prctl, 24 /* PR_CAPBSET_DROP */, cap, 0, 0);
        if (r == -EINVAL) break;
        if (r < 0) cs_r_fail(errfd, CS_STEP_CAPS, r);
    }
    r = cs_r_sys(SYS_prctl, 47 /* PR_CAP_AMBIENT */, 4 /* PR_CAP_AMBIENT_CLEAR_ALL */, 0, 0);
    if (r < 0 && r != -EINVAL) cs_r_fail(errfd, CS_STEP_CAPS, r);
    if (h->set_ids) {
        r = cs_r_sys(SYS_setgroups, 0, 0, 0, 0);
        if (r < 0 && r != -EPERM) cs_r_fail(errfd, CS_STEP_SETID, r);
        r = cs_r_sys(SYS_setresgid, h->gid, h->gid, h->gid, 0);
        if (r < 0) cs_r_fail(errfd, CS_STEP_SETID, r);
        r = cs_r_sys(SYS_setresuid, h->uid, h->uid, h->uid, 0);
        if (r < 0) cs_r_fail(errfd, CS_STEP_SETID, r);
    }
    // capset: version 3 header, two data words (effective, permitted, inheritable).
    unsigned int header[2];
    header[0] = 0x20080522;   // _LINUX_CAPABILITY_VERSION_3
    header[1] = 0;
    unsigned int data[6];
    for (int i = 0; i < 2; i++) {
        unsigned int bits = (unsigned int)(h->caps_keep >> (32 * i));
        data[3 * i] = bits;
        data[3 * i + 1] = bits;
        data[3 * i + 2] = bits;
    }
    r = cs_r_sys(SYS_capset, (long)header, (long)data, 0, 0);
    if (r < 0) cs_r_fail(errfd, CS_STEP_CAPS, r);
    r = cs_r_sys(SYS_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0);
    if (r < 0) cs_r_fail(errfd, CS_STEP_NO_NEW_PRIVS, r);
    if (filter) {
        struct { unsigned short len; const void *filter; } prog;
        prog.len = (unsigned short)h->seccomp_len;
        prog.filter = filter;
        r = cs_r_sys(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, 0, (long)&prog, 0);
        if (r < 0) cs_r_fail(errfd, CS_STEP_SECCOMP, r);
    }
    cs_r_emit(errfd, CS_EV_MARK, CS_MARK_CONFINED, 0, cs_r_now());

    const char *file = argv[0];
    int slash = 0;
    unsigned long flen = 0;
    for (; file[flen]; flen++) if (file[flen] == '/') slash = 1;
    if (slash || !path[0]) {
        r = cs_r_sys(SYS_execve, (long)file, (long)argv, (long)envp, 0);
        cs_r_fail(errfd, CS_STEP_EXEC, r);
    }
    // PATH search by hand, the box's PATH.
    long last = -ENOENT;
    char buf[4096];
    for (const char *const *dir = path; *dir; dir++) {
        unsigned long dlen = 0;
        while ((*dir)[dlen]) dlen++;
        if (dlen + flen + 2 > sizeof buf) continue;
        volatile char *b = buf;   // a byte loop, never turned into a call to memcpy
        for (unsigned long i = 0; i < dlen; i++) b[i] = (*dir)[i];
        b[dlen] = '/';
        for (unsigned long i = 0; i <= flen; i++) b[dlen + 1 + i] = file[i];
        r = cs_r_sys(SYS_execve, (long)buf, (long)argv, (long)envp, 0);
        if (r != -ENOENT && r != -ENOTDIR) last = r;
    }
    cs_r_fail(errfd, CS_STEP_EXEC, last);
}

// argv: [name, event descriptor, gate descriptor, stdin, stdout, stderr]
// (a descriptor of -1: none). Reports READY, waits for the program message
// (cs_program_msg), forks the program, reports its marks and STARTED (or
// FAILED), then reaps.
CS_REAPER_FN __attribute__((noreturn)) static void cs_gate_main(long evfd, long gate, long in, long out, long err) {
    cs_r_emit(evfd, CS_EV_READY, 0, 0, 0);
    // The message, on the stack (this image has no data of its own).
    union { struct cs_program_msg h; char bytes[CS_PROGRAM_MAX]; } msg;
    long r = cs_r_read_all(gate, msg.bytes, sizeof msg.h);
    if (r < 0) cs_r_fail(evfd, CS_STEP_GATE, r);
    const struct cs_program_msg *h = &msg.h;
    if (h->magic != CS_PROGRAM_MAGIC || h->length > CS_PROGRAM_MAX - sizeof *h) cs_r_fail(evfd, CS_STEP_GATE, -EPROTO);
    r = cs_r_read_all(gate, msg.bytes + sizeof *h, h->length);
    if (r < 0) cs_r_fail(evfd, CS_STEP_GATE, r);
    cs_r_sys(SYS_close, gate, 0, 0, 0);
    int64_t released = cs_r_now();
    unsigned long rl = (unsigned long)h->n_rlimits * sizeof(struct cs_rlimit), bpf = (unsigned long)h->seccomp_len * 8;
    long nstr = (long)h->argc + h->envc + h->pathc;
    const char *strs[4096];
    if (h->n_rlimits < 0 || h->seccomp_len < 0 || h->seccomp_len > 0xffff || h->argc < 1 || h->envc < 0 || h->pathc < 0
        || nstr + 3 > 4096 || rl + bpf > h->length) {
        cs_r_fail(evfd, CS_STEP_GATE, -EPROTO);
    }
    // argv, NULL, envp, NULL, path, NULL: each string checked to end inside the message.
    const char *p = msg.bytes + sizeof *h + rl + bpf, *end = msg.bytes + sizeof *h + h->length;
    long slot = 0;
    long counts[3], starts[3];
    counts[0] = h->argc; counts[1] = h->envc; counts[2] = h->pathc;
    for (int l = 0; l < 3; l++) {
        starts[l] = slot;
        for (long i = 0; i < counts[l]; i++) {
            const char *z = p;
            while (z < end && *z) z++;
            if (z >= end) cs_r_fail(evfd, CS_STEP_GATE, -EPROTO);
            strs[slot++] = p;
            p = z + 1;
        }
        strs[slot++] = 0;
    }
    const struct cs_rlimit *rlimits = (const struct cs_rlimit *)(msg.bytes + sizeof *h);
    const void *filter = h->seccomp_len ? msg.bytes + sizeof *h + rl : 0;

    int errpipe[2];
    r = cs_r_sys(SYS_pipe2, (long)errpipe, O_CLOEXEC, 0, 0);
    if (r < 0) cs_r_fail(evfd, CS_STEP_FORK, r);
    long prog = cs_r_sys(SYS_clone, SIGCHLD, 0, 0, 0);
    if (prog < 0) cs_r_fail(evfd, CS_STEP_FORK, prog);
    if (prog == 0) {
        cs_r_sys(SYS_close, errpipe[0], 0, 0, 0);
        cs_gate_child(h, rlimits, strs + starts[0], strs + starts[1], strs + starts[2], filter, in, out, err, errpipe[1]);
    }
    int64_t forked = cs_r_now();
    cs_r_sys(SYS_close, errpipe[1], 0, 0, 0);
    // The program's MARK (confined), then end of file at its execve, or a FAILED event.
    struct cs_event evs[4];
    int n = 0;
    evs[n].kind = CS_EV_MARK; evs[n].step = CS_MARK_RELEASED; evs[n].err = 0; evs[n].status = 0;
    evs[n].mono_ns = released; evs[n].user_us = 0; evs[n].sys_us = 0; n++;
    evs[n].kind = CS_EV_MARK; evs[n].step = CS_MARK_FORKED; evs[n].err = 0; evs[n].status = 0;
    evs[n].mono_ns = forked; evs[n].user_us = 0; evs[n].sys_us = 0; n++;
    for (;;) {
        struct cs_event ev;
        long got = cs_r_read_all(errpipe[0], (char *)&ev, sizeof ev);
        if (got < 0) break;   // end of file: the program passed execve
        if (ev.kind == CS_EV_FAILED) {
            cs_r_sys(SYS_write, evfd, (long)&ev, sizeof ev, 0);
            cs_r_sys(SYS_wait4, prog, 0, 0, 0);
            cs_r_sys(SYS_exit_group, 127, 0, 0, 0);
        }
        if (ev.kind == CS_EV_MARK && n < 3) {
            evs[n].kind = ev.kind; evs[n].step = ev.step; evs[n].err = 0; evs[n].status = 0;
            evs[n].mono_ns = ev.mono_ns; evs[n].user_us = 0; evs[n].sys_us = 0; n++;
        }
    }
    cs_r_sys(SYS_close, errpipe[0], 0, 0, 0);
    evs[n].kind = CS_EV_STARTED; evs[n].step = 0; evs[n].err = 0; evs[n].status = 0;
    evs[n].mono_ns = cs_r_now(); evs[n].user_us = 0; evs[n].sys_us = 0; n++;
    cs_r_sys(SYS_write, evfd, (long)evs, (long)(n * sizeof evs[0]), 0);
    // No copy of the program's output pipes stays here: its reader sees end
    // of file when the program and its children are done.
    if (in > 2) cs_r_sys(SYS_close, in, 0, 0, 0);
    if (out > 2) cs_r_sys(SYS_close, out, 0, 0, 0);
    if (err > 2) cs_r_sys(SYS_close, err, 0, 0, 0);
    for (long fd = 0; fd <= 2; fd++) cs_r_sys(SYS_close, fd, 0, 0, 0);
    cs_reap(evfd, prog);
}

// argv: [name, event descriptor, program pid] (the reaper) or the gate's
// (see cs_gate_main). The stack as the kernel left it.
CS_REAPER_FN __attribute__((noreturn)) void cs_reaper_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    if (argc == 6) {
        long a[5];   // assigned one by one (see cs_gate_child)
        for (int i = 0; i < 5; i++) {
            // "-1" is a descriptor not given.
            a[i] = argv[i + 1][0] == '-' ? -1 : cs_r_number(argv[i + 1]);
            if (i < 2 && a[i] < 0) cs_r_sys(SYS_exit_group, 126, 0, 0, 0);
        }
        cs_gate_main(a[0], a[1], a[2], a[3], a[4]);
    }
    long evfd = argc >= 3 ? cs_r_number(argv[1]) : -1;
    long prog = argc >= 3 ? cs_r_number(argv[2]) : -1;
    if (evfd < 0 || prog <= 0) cs_r_sys(SYS_exit_group, 126, 0, 0, 0);
    cs_reap(evfd, prog);
}

// The entry point: hands the initial stack pointer to cs_reaper_main.
#if defined(__x86_64__)
CS_REAPER __attribute__((naked)) void cs_reaper_entry(void) {
    __asm__ volatile("mov %rsp, %rdi\n\tand $-16, %rsp\n\tcall cs_reaper_main\n\tud2");
}
#else
CS_REAPER __attribute__((naked)) void cs_reaper_entry(void) {
    __asm__ volatile("mov x0, sp\n\tbl cs_reaper_main\n\tbrk #0");
}
#endif

extern char __start_cs_reaper[] __attribute__((visibility("hidden")));
extern char __stop_cs_reaper[] __attribute__((visibility("hidden")));

static pthread_once_t cs_reaper_once = PTHREAD_ONCE_INIT;
static int cs_reaper_fd = -ENOSYS;

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

static void cs_reaper_make(void) {
    enum { base = 0x400000, code_at = 0x80 };
    size_t code_len = (size_t)(__stop_cs_reaper - __start_cs_reaper);
    size_t entry_at = (size_t)((char *)cs_reaper_entry - __start_cs_reaper);
    if (code_len == 0 || entry_at >= code_len) { cs_reaper_fd = -ENOEXEC; return; }

    unsigned char head[code_at];
    memset(head, 0, sizeof head);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)head;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_ident[EI_OSABI] = ELFOSABI_SYSV;
    eh->e_type = ET_EXEC;
#if defined(__x86_64__)
    eh->e_machine = EM_X86_64;
#else
    eh->e_machine = EM_AARCH64;
#endif
    eh->e_version = EV_CURRENT;
    eh->e_entry = base + code_at + entry_at;
    eh->e_phoff = sizeof *eh;
    eh->e_ehsize = sizeof *eh;
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 2;
    Elf64_Phdr *ph = (Elf64_Phdr *)(head + sizeof *eh);
    ph[0].p_type = PT_LOAD;
    ph[0].p_flags = PF_R | PF_X;
    ph[0].p_offset = 0;
    ph[0].p_vaddr = ph[0].p_paddr = base;
    ph[0].p_filesz = ph[0].p_memsz = code_at + code_len;
    ph[0].p_align = 0x1000;
    // A stack that is not executable.
    ph[1].p_type = PT_GNU_STACK;
    ph[1].p_flags = PF_R | PF_W;

    int fd = (int)syscall(SYS_memfd_create, "gradebox-reaper", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_memfd_create, "gradebox-reaper", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) { cs_reaper_fd = -errno; return; }
    if (write(fd, head, sizeof head) != (ssize_t)sizeof head
        || write(fd, __start_cs_reaper, code_len) != (ssize_t)code_len) {
        int e = errno ? errno : EIO;
        close(fd);
        cs_reaper_fd = -e;
        return;
    }
    // Nobody, this process included, can change it from here on.
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    cs_reaper_fd = fd;
}
#endif

int cs_reaper_image_fd(void) {
#ifdef CS_HAS_REAPER
    pthread_once(&cs_reaper_once, cs_reaper_make);
    return cs_reaper_fd;
#else
    return -ENOSYS;
#endif
}
