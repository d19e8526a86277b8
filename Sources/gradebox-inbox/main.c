#include "inbox.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *name; int (*run)(int, char **); } commands[] = {
    {"feedback-result", cmd_feedback_result},
    {"feedback-grade", cmd_feedback_grade},
    {"feedback-msg", cmd_feedback_msg},
    {"feedback-custom", cmd_feedback_custom},
    {"feedback-state", cmd_feedback_state},
    {"feedback", cmd_feedback},
    {"tag", cmd_tag},
    {"tag-set", cmd_tag_set},
    {"getinput", cmd_getinput},
    {"run_student", cmd_run_student},
};

/* Installed under each command's name (argv[0]); `gradebox-inbox NAME ARGS...` runs one by name. */
int main(int argc, char **argv) {
    for (int pass = 0; pass < 2 && argc > 0; pass++) {
        const char *slash = strrchr(argv[0], '/');
        const char *name = slash ? slash + 1 : argv[0];
        for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
            if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc, argv);
        argc--;
        argv++;
    }
    fputs("usage: gradebox-inbox COMMAND [ARGS...]\ncommands:", stderr);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) fprintf(stderr, " %s", commands[i].name);
    fputc('\n', stderr);
    return 2;
}
