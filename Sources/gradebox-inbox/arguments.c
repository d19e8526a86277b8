#include "inbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(const command_line *cl, FILE *to) {
    fprintf(to, "usage: %s [-h]", cl->prog);
    for (int i = 0; i < cl->option_count; i++) {
        const option *o = &cl->options[i];
        if (o->short_name) fprintf(to, " [-%c%s%s]", o->short_name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        else fprintf(to, " [--%s%s%s]", o->long_name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    }
    for (int i = 0; i < cl->positional_count; i++)
        fprintf(to, cl->remainder && i == cl->positional_count - 1 ? " ..." : " %s", cl->positional_names[i]);
    fputc('\n', to);
}

static void fail(const command_line *cl, const char *what, const char *arg) {
    usage(cl, stderr);
    fprintf(stderr, "%s: error: %s%s\n", cl->prog, what, arg ? arg : "");
    exit(2);
}

static int looks_negative(const char *a) {
    if (a[0] != '-' || !a[1]) return 0;
    char *end;
    strtod(a, &end);
    return *end == 0;
}

static const option *find_long(const command_line *cl, const char *name, size_t length) {
    const option *found = NULL;
    for (int i = 0; i < cl->option_count; i++) {
        const option *o = &cl->options[i];
        if (!o->long_name || strncmp(o->long_name, name, length) != 0) continue;
        if (strlen(o->long_name) == length) return o;
        if (found) {
            char n[256];
            snprintf(n, sizeof n, "--%.*s", (int)length, name);
            fail(cl, "ambiguous option: ", n);
        }
        found = o;
    }
    return found;
}

void parse_arguments(const command_line *cl, int argc, char **argv, const char **positionals, char ***rest, int *rest_count) {
    int positional = 0, only_positionals = 0;
    char *extras[256];
    int extra = 0;
    if (rest) { *rest = NULL; *rest_count = 0; }
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!only_positionals && strcmp(a, "--") == 0) { only_positionals = 1; continue; }
        if (!only_positionals && a[0] == '-' && a[1] && !looks_negative(a)) {
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                usage(cl, stdout);
                if (cl->description) printf("\n%s\n", cl->description);
                exit(0);
            }
            const option *o = NULL;
            const char *value = NULL;
            if (a[1] == '-') {
                char *eq = strchr(a + 2, '=');
                size_t length = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
                o = find_long(cl, a + 2, length);
                if (!o) fail(cl, "unrecognized arguments: ", a);
                if (eq) {
                    if (!o->metavar) fail(cl, "ignored explicit argument ", eq + 1);
                    value = eq + 1;
                }
            } else {
                /* -abc: flags clustered; the first option taking a value takes the rest. */
                for (char *c = a + 1; *c; c++) {
                    o = NULL;
                    for (int k = 0; k < cl->option_count; k++)
                        if (cl->options[k].short_name == *c) o = &cl->options[k];
                    if (!o) fail(cl, "unrecognized arguments: ", a);
                    if (o->metavar) {
                        if (c[1]) value = c + 1;
                        break;
                    }
                    *o->set = 1;
                    o = NULL;
                }
                if (!o) continue;
            }
            if (o->metavar) {
                if (!value) {
                    if (i + 1 >= argc || (argv[i + 1][0] == '-' && argv[i + 1][1] && !looks_negative(argv[i + 1]))) {
                        char n[256];
                        snprintf(n, sizeof n, "argument %s%s: expected one argument", o->long_name ? "--" : "-",
                                 o->long_name ? o->long_name : (char[]){o->short_name, 0});
                        fail(cl, n, NULL);
                    }
                    value = argv[++i];
                }
                *o->value = value;
            } else *o->set = 1;
            continue;
        }
        if (cl->remainder && positional == cl->positional_count - 1) {
            *rest = argv + i;
            *rest_count = argc - i;
            positional++;
            break;
        }
        if (positional < cl->positional_count - (cl->remainder ? 1 : 0)) positionals[positional++] = a;
        else if (extra < 256) extras[extra++] = a;
    }
    if (extra) fail(cl, "unrecognized arguments: ", extras[0]);
    int required = cl->positional_count - (cl->remainder ? 1 : 0);
    if (positional < required) {
        char n[512] = "the following arguments are required: ";
        for (int k = positional; k < required; k++) {
            if (k > positional) strncat(n, ", ", sizeof n - strlen(n) - 1);
            strncat(n, cl->positional_names[k], sizeof n - strlen(n) - 1);
        }
        fail(cl, n, NULL);
    }
}
