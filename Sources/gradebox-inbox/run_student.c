/* run_student: asks the grader for a student box over /sockets/gradebox.sock
 * (one JSON line, this process's stdin, stdout and stderr handed over with
 * SCM_RIGHTS) and exits with the student program's return code, or
 * INGInious's: 252 memory, 253 time, 254 could not run, 251 root asked for.
 * Signals this process gets are passed on to the student's program. */
#include "inbox.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int grader = -1;

/* Where `gradebox image build inginious-default` keeps INGInious's own command. */
#define STOCK_RUN_STUDENT "/usr/lib/inginious/bin/run_student"

static void forward(int signum) {
    char line[32];
    int n = snprintf(line, sizeof line, "{\"signal\": %d}\n", signum);
    int saved = errno;
    (void)!send(grader, line, (size_t)n, MSG_NOSIGNAL);
    errno = saved;
}

static int parse_int(const char *name, const char *text) {
    jvalue *v = json_python_int(text);
    if (!v || strlen(v->text) > 9) {
        fprintf(stderr, "usage: run_student [-h] [--container CONTAINER] [--time TIME] [--hard-time HARD_TIME] [--memory MEMORY]"
                        " [--share-network] [--run-as-root] [--teardown-script TEARDOWN_SCRIPT] ...\n"
                        "run_student: error: argument --%s: invalid int value: '%s'\n", name, text);
        exit(2);
    }
    return atoi(v->text);
}

int cmd_run_student(int argc, char **argv) {
    const char *container = NULL, *time = "0", *hard_time = "0", *memory = "0", *teardown = "";
    int share_network = 0, as_root = 0;
    option options[] = {
        {0, "container", "CONTAINER", &container, NULL},
        {0, "time", "TIME", &time, NULL},
        {0, "hard-time", "HARD_TIME", &hard_time, NULL},
        {0, "memory", "MEMORY", &memory, NULL},
        {0, "share-network", NULL, NULL, &share_network},
        {0, "run-as-root", NULL, NULL, &as_root},
        {0, "teardown-script", "TEARDOWN_SCRIPT", &teardown, NULL},
    };
    const char *names[] = {"cmd"};
    command_line cl = {"run_student", "Runs a command in a secure environment.\n"
                       "This command will proxy stdin, stdout, stderr, most signals and the return value.\n\n"
                       "There are special return values:\n"
                       "* 252 means that the command was killed due to an out-of-memory\n"
                       "* 253 means that the command timed out\n"
                       "* 254 means that an error occured while running the proxy", options, 7, names, 1, 1};
    char **words;
    int word_count;
    parse_arguments(&cl, argc, argv, NULL, &words, &word_count);
    int time_limit = parse_int("time", time), hard_limit = parse_int("hard-time", hard_time), memory_limit = parse_int("memory", memory);
    (void)teardown;   /* only used by SSH debugging, which gradebox does not offer */
    if (as_root) return 251;

    jvalue *request = json_new(J_OBJECT);
    jbuffer cmd = {0};
    jbuffer_add(&cmd, "", 0);
    for (int i = 0; i < word_count; i++) {
        if (i) jbuffer_add(&cmd, " ", 1);
        jbuffer_add(&cmd, words[i], strlen(words[i]));
    }
    char number[32];
    json_set(request, "cmd", json_string(cmd.bytes, cmd.length));
    json_set(request, "environment", container ? json_string(container, strlen(container)) : json_new(J_NULL));
    snprintf(number, sizeof number, "%d", time_limit);
    json_set(request, "time_limit", json_number(number));
    snprintf(number, sizeof number, "%d", hard_limit);
    json_set(request, "hard_time_limit", json_number(number));
    snprintf(number, sizeof number, "%d", memory_limit);
    json_set(request, "memory_limit", json_number(number));
    json_set(request, "share_network", json_new(share_network ? J_TRUE : J_FALSE));
    char cwd[4096];
    const char *where = getcwd(cwd, sizeof cwd) ? cwd : "/task";
    json_set(request, "working_dir", json_string(where, strlen(where)));
    jbuffer line = {0};
    json_write(&line, request);
    jbuffer_add(&line, "\n", 1);

    /* A closed standard stream is given to the student as /dev/null. */
    int fds[3];
    for (int i = 0; i < 3; i++) fds[i] = fcntl(i, F_GETFD) >= 0 ? i : open("/dev/null", O_RDWR | O_CLOEXEC);

    const char *path = inbox_path("/sockets/gradebox.sock");
    grader = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    if (grader < 0 || strlen(path) >= sizeof address.sun_path) {
        fprintf(stderr, "run_student: socket: %s\n", strerror(errno));
        return 254;
    }
    strcpy(address.sun_path, path);
    if (connect(grader, (struct sockaddr *)&address, sizeof address) != 0) {
        /* No gradebox grader here (the image under INGInious's own Docker agent): INGInious's command serves. */
        if (errno == ENOENT && !getenv("GRADEBOX_INBOX_ROOT")) execv(STOCK_RUN_STUDENT, argv);
        fprintf(stderr, "run_student: connect %s: %s\n", path, strerror(errno));
        return 254;
    }
    struct iovec io = {line.bytes, line.length};
    char control[CMSG_SPACE(sizeof fds)];
    memset(control, 0, sizeof control);
    struct msghdr message = {.msg_iov = &io, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ssize_t sent;
    do sent = sendmsg(grader, &message, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
    if (sent != (ssize_t)line.length) {
        fprintf(stderr, "run_student: sendmsg %s: %s\n", path, strerror(errno));
        return 254;
    }
    /* As the stock command does: most signals go to the student's program. */
    /* Not the job-control ones: a student program stopped would only wait for its time limit. */
    static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGWINCH};
    struct sigaction action = {.sa_handler = forward, .sa_flags = SA_RESTART};
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &action, NULL);

    jbuffer reply = {0};
    jbuffer_add(&reply, "", 0);
    char chunk[256];
    while (!memchr(reply.bytes, '\n', reply.length)) {
        ssize_t n = recv(grader, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fputs("run_student: the grader closed the connection\n", stderr);
            return 254;
        }
        jbuffer_add(&reply, chunk, (size_t)n);
    }
    jvalue *answer = json_parse(reply.bytes, (size_t)((char *)memchr(reply.bytes, '\n', reply.length) - reply.bytes));
    jvalue *retval = json_get(answer, "retval");
    if (!retval || retval->type != J_NUMBER) return 254;
    return atoi(retval->text);
}
