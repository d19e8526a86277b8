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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__aarch64__)
#define CS_HAS_REAPER 1

#define CS_REAPER __attribute__((section("cs_reaper"), used, no_stack_protector, visibility("hidden")))

#if defined(__x86_64__)
static inline __attribute__((always_inline)) long cs_r_sys(long n, long a, long b, long c, long d) {
    long r;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return r;
}
#else
static inline __attribute__((always_inline)) long cs_r_sys(long n, long a, long b, long c, long d) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}
#endif

static inline __attribute__((always_inline)) long cs_r_number(const char *s) {
    long v = 0;
    if (!s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

// argv: [name, event descriptor, program pid]. The stack as the kernel left it.
CS_REAPER __attribute__((noreturn)) void cs_reaper_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    long evfd = argc >= 3 ? cs_r_number(argv[1]) : -1;
    long prog = argc >= 3 ? cs_r_number(argv[2]) : -1;
    if (evfd < 0 || prog <= 0) cs_r_sys(SYS_exit_group, 126, 0, 0, 0);
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
