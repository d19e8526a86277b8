// The program message a warm box's gate carries (cs_program_msg in
// csandbox.h), and the plan its init makes of it.
//
// A warm box is made ahead of time and waits at its gate; the program's part
// of the plan (limits, ids, capabilities, filter, argv, envp, PATH) arrives
// there once the box is taken. Its init parses the message, so this runs in
// the child of a clone (see spawn.c): C, async-signal-safe, no malloc.
#define _GNU_SOURCE
#include "internal.h"

// The program's part of the plan, as a warm box receives it at its gate:
// copied into the init's own static memory (it never allocates), the rest
// of the plan kept. Returns 0, or -1 with errno set.
static char cs_msg[CS_PROGRAM_MAX] __attribute__((aligned(8)));
static const char *cs_msg_strings[4096];
static struct cs_plan cs_msg_plan;

int cs_read_program(int fd, const struct cs_plan *base, const struct cs_plan **out) {
    size_t got = 0, want = sizeof(struct cs_program_msg);
    while (got < want) {
        ssize_t n = read(fd, cs_msg + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { errno = n < 0 ? errno : EPIPE; return -1; }
        got += (size_t)n;
        if (got == sizeof(struct cs_program_msg)) {
            const struct cs_program_msg *h = (const void *)cs_msg;
            if (h->magic != CS_PROGRAM_MAGIC || h->length > CS_PROGRAM_MAX - sizeof *h) { errno = EPROTO; return -1; }
            want = sizeof *h + h->length;
        }
    }
    const struct cs_program_msg *h = (const void *)cs_msg;
    size_t rl = (size_t)h->n_rlimits * sizeof(struct cs_rlimit), bpf = (size_t)h->seccomp_len * 8;
    int nstr = h->argc + h->envc + h->pathc;
    if (h->n_rlimits < 0 || h->seccomp_len < 0 || h->seccomp_len > 0xffff || h->argc < 1 || h->envc < 0 || h->pathc < 0
        || nstr + 3 > (int)(sizeof cs_msg_strings / sizeof cs_msg_strings[0]) || rl + bpf > h->length) {
        errno = EPROTO;
        return -1;
    }
    const char *p = cs_msg + sizeof *h + rl + bpf, *end = cs_msg + sizeof *h + h->length;
    // argv, NULL, envp, NULL, path, NULL: each string checked to end inside the message.
    int slot = 0;
    int counts[3] = { h->argc, h->envc, h->pathc };
    const char **lists[3];
    for (int l = 0; l < 3; l++) {
        lists[l] = &cs_msg_strings[slot];
        for (int i = 0; i < counts[l]; i++) {
            const char *z = memchr(p, 0, (size_t)(end - p));
            if (!z) { errno = EPROTO; return -1; }
            cs_msg_strings[slot++] = p;
            p = z + 1;
        }
        cs_msg_strings[slot++] = NULL;
    }
    cs_msg_plan = *base;
    cs_msg_plan.rlimits = (const struct cs_rlimit *)(cs_msg + sizeof *h);
    cs_msg_plan.n_rlimits = h->n_rlimits;
    cs_msg_plan.set_ids = h->set_ids;
    cs_msg_plan.uid = h->uid;
    cs_msg_plan.gid = h->gid;
    cs_msg_plan.caps_keep = h->caps_keep;
    cs_msg_plan.seccomp_filter = h->seccomp_len ? cs_msg + sizeof *h + rl : NULL;
    cs_msg_plan.seccomp_len = (uint16_t)h->seccomp_len;
    // The program inherits the filter the init loaded before its gate; one
    // the message carries (ProgramMessage sends none) is loaded on top.
    cs_msg_plan.argv = lists[0];
    cs_msg_plan.envp = lists[1];
    cs_msg_plan.path = lists[2];
    *out = &cs_msg_plan;
    return 0;
}

// A warm box's init is a plain clone of its caller: the first write to a page
// it still shares with the caller copies that page, several microseconds each
// here. The init writes the message's pages ahead of its gate, not in the run.
void cs_program_touch(void) {
    memset(cs_msg, 0, sizeof cs_msg);
    memset(cs_msg_strings, 0, sizeof cs_msg_strings);
    memset(&cs_msg_plan, 0, sizeof cs_msg_plan);
}
