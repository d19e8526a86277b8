// Network namespaces made on a thread of their own: a box's, made while the
// caller sets the rest of the box up (cs_netns_begin, cs_netns_finish), and
// a pool slot's, bound on a file so that it outlives us
// (cs_unshare_netns_holder).
//
// C, not Swift: unshare() changes the namespace of the calling thread only,
// so the thread is a raw pthread that ends right after (never one of Swift's
// pooled threads), with a small stack, on another CPU than its caller's; and
// the box's init (spawn.c) reads its result from a pipe, as written here.
#define _GNU_SOURCE
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>

struct cs_netns_job {
    pthread_t thread;
    int fd;
    int err, step;              // when fd < 0: what failed
    int notify_fd;              // or -1: the caller joins the thread instead
};

// Runs on its own thread: only this thread's network namespace changes, and
// the thread ends right after (a new thread is a new task: nothing else ever
// lives in that namespace through it, so it need not go back).
static void *cs_netns_main(void *p) {
    struct cs_netns_job *job = p;
    // A box that died before reading its pipe must not SIGPIPE the caller:
    // the write then fails with EPIPE, on this thread only.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int err = 0, step = CS_STEP_SETNS_NET;
    job->fd = -1;
    if (unshare(CLONE_NEWNET) < 0) {
        err = errno; step = CS_STEP_UNSHARE_NET;
    } else if (cs_loopback_up() < 0) {
        err = errno; step = CS_STEP_LOOPBACK;
    } else if ((job->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0) {
        err = errno;
    }
    job->err = err ? err : EIO;
    job->step = step;
    if (job->notify_fd >= 0) {
        int32_t msg[2] = { job->fd >= 0 ? job->fd : -job->err, step };
        cs_write_all(job->notify_fd, msg, sizeof msg);
        close(job->notify_fd);
    }
    return NULL;
}

struct cs_netns_job *cs_netns_begin(int notify_fd) {
    struct cs_netns_job *job = calloc(1, sizeof *job);
    if (!job) return NULL;
    job->notify_fd = notify_fd;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    // On another CPU than the caller's, when it may use one: left to the
    // scheduler, the thread was queued behind its busy caller on the same
    // CPU (seen on this kind of VM) and ran only once the caller waited for it.
    cpu_set_t allowed;
    int here = sched_getcpu();
    if (here >= 0 && sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_ISSET(here, &allowed)
        && CPU_COUNT(&allowed) > 1) {
        CPU_CLR(here, &allowed);
        pthread_attr_setaffinity_np(&attr, sizeof allowed, &allowed);
    }
    int rc = pthread_create(&job->thread, &attr, cs_netns_main, job);
    pthread_attr_destroy(&attr);
    if (rc != 0) { free(job); errno = rc; return NULL; }
    return job;
}

int cs_netns_finish(struct cs_netns_job *job) {
    pthread_join(job->thread, NULL);
    int fd = job->fd;
    free(job);
    return fd;
}

// A pool slot's namespace: made by the same thread as a box's, then bound
// on bind_target so that it outlives us. A thread, not a forked child: a
// child would hold a copy of every descriptor of this process while the
// kernel makes the namespace, other slots' lock files among them, and a slot
// freed meanwhile would look busy to anyone taking its flock.
int cs_unshare_netns_holder(const char *bind_target, int *err_step) {
    struct cs_netns_job *job = cs_netns_begin(-1);
    if (!job) { *err_step = CS_STEP_CLONE; return -errno; }
    pthread_join(job->thread, NULL);
    int fd = job->fd, err = job->err, step = job->step;
    free(job);
    if (fd < 0) { *err_step = step; return -err; }
    char path[32] = "/proc/self/fd/";
    cs_decimal(fd, path + strlen(path));
    int rc = mount(path, bind_target, NULL, MS_BIND, NULL);
    err = errno;
    close(fd);
    if (rc < 0) { *err_step = CS_STEP_BIND_NETNS; return -err; }
    return 0;
}
