/*
 * gradebox's in-box commands: INGInious's container API (feedback-*, tag,
 * tag-set, getinput, run_student) as one small program, installed under
 * each command's name in a grading environment. The stock commands are
 * Python processes, tens of milliseconds each here, on the path of every
 * job; these write the same files with the same semantics in about one.
 */
#ifndef GRADEBOX_INBOX_H
#define GRADEBOX_INBOX_H

#include "json.h"

/* One option as argparse declares it: -x / --long, a flag or taking a value. */
typedef struct {
    char short_name;          /* 0: none */
    const char *long_name;    /* without "--"; NULL: none */
    const char *metavar;      /* NULL: a flag */
    const char **value;       /* where a value goes */
    int *set;                 /* where a flag goes */
} option;

/* A command's arguments as argparse reads them: options anywhere, `--`, long
 * options by unique prefix, `--opt=value`, clustered short flags. With
 * `remainder`, everything from the first positional on is the last
 * positional's (argparse.REMAINDER). Exits 2 with argparse's kind of message on bad usage. */
typedef struct {
    const char *prog, *description;
    option *options;
    int option_count;
    const char **positional_names;
    int positional_count;
    int remainder;
} command_line;

void parse_arguments(const command_line *cl, int argc, char **argv, const char **positionals, char ***rest, int *rest_count);

/* Where the job's files are: "" in a box; tests point it elsewhere with GRADEBOX_INBOX_ROOT. */
const char *inbox_path(const char *path);

jvalue *load_feedback(void);
void save_feedback(const jvalue *feedback);
/* Python's `text.encode('utf-8').decode('unicode-escape').encode('latin1').decode('utf-8')` on bytes. */
char *unescape(const char *text, size_t *length);
/* Reads all of `fd`; NULL on error. */
char *read_all(int fd, size_t *length);

int cmd_feedback_result(int argc, char **argv);
int cmd_feedback_grade(int argc, char **argv);
int cmd_feedback_msg(int argc, char **argv);
int cmd_feedback_custom(int argc, char **argv);
int cmd_feedback_state(int argc, char **argv);
int cmd_feedback(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_tag_set(int argc, char **argv);
int cmd_getinput(int argc, char **argv);
int cmd_run_student(int argc, char **argv);

#endif
