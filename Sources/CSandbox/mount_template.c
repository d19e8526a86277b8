// Mount-namespace templates (cs_mount_template): a namespace whose root is an
// image, made once, that a box's init copies instead of building its mount
// table again; and cs_namespace_type, which says what a namespace
// descriptor is.
//
// C, not Swift: the template is made by a raw pthread alone in the namespace
// it unshares, which ends right after (never one of Swift's pooled threads),
// carrying out the same mount ops as a box's init (cs_do_op, internal.h).
#define _GNU_SOURCE
#include "internal.h"

#include <linux/nsfs.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>

struct cs_template_job {
    const struct cs_op *ops;
    int n_ops;
    const char *mount_point;
    int fd, err, step;
};

// Runs on its own thread, alone in the namespace it makes (a new thread is a
// new task: nothing else lives there through it, and it ends right after).
static void *cs_template_main(void *p) {
    struct cs_template_job *job = p;
    job->fd = -1;
    job->step = CS_STEP_MOUNT_TEMPLATE;
    if (unshare(CLONE_NEWNS) < 0) { job->err = errno; return NULL; }
    job->step = CS_STEP_PRIVATE_ROOT;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) { job->err = errno; return NULL; }
    for (int i = 0; i < job->n_ops; i++) {
        if (cs_do_op(&job->ops[i]) < 0) { job->step = i; job->err = errno; return NULL; }
    }
    // Opened before the pivot takes /proc away; it names the namespace, not a path.
    job->step = CS_STEP_MOUNT_TEMPLATE;
    int fd = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { job->err = errno; return NULL; }
    job->step = CS_STEP_PIVOT;
    if (chdir(job->mount_point) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0) {
        job->err = errno;
        close(fd);
        return NULL;
    }
    job->fd = fd;
    return NULL;
}

int cs_mount_template(const struct cs_op *ops, int n_ops, const char *mount_point, int *err_step) {
    struct cs_template_job job = { ops, n_ops, mount_point, -1, EIO, CS_STEP_CLONE };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, cs_template_main, &job);
    if (rc != 0) { *err_step = CS_STEP_CLONE; return -rc; }
    pthread_join(thread, NULL);
    if (job.fd < 0) { *err_step = job.step; return -job.err; }
    return job.fd;
}

int cs_namespace_type(int fd) {
    int type = ioctl(fd, NS_GET_NSTYPE);
    return type < 0 ? -errno : type;
}
