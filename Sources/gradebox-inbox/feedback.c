/* The feedback commands and getinput, with inginious_container_api's
 * semantics (feedback.py, input.py in INGInious 0.9.2's base container):
 * each reads /.__output/__feedback.json, changes it, and writes it back. */
#include "inbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *inbox_path(const char *path) {
    static char buffers[4][4096];
    static int next;
    const char *root = getenv("GRADEBOX_INBOX_ROOT");
    if (!root || !*root) return path;
    char *b = buffers[next++ % 4];
    snprintf(b, sizeof buffers[0], "%s%s", root, path);
    return b;
}

char *read_all(int fd, size_t *length) {
    jbuffer b = {0};
    jbuffer_add(&b, "", 0);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { free(b.bytes); return NULL; }
        if (n == 0) break;
        jbuffer_add(&b, chunk, (size_t)n);
    }
    *length = b.length;
    return b.bytes;
}

static char *read_file(const char *path, size_t *length) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char *text = read_all(fd, length);
    close(fd);
    return text;
}

static void die(const char *what, const char *object) {
    fprintf(stderr, "%s %s: %s\n", what, object, strerror(errno));
    exit(1);
}

jvalue *load_feedback(void) {
    const char *path = inbox_path("/.__output/__feedback.json");
    size_t length = 0;
    char *text = read_file(path, &length);
    if (!text) {
        if (errno != ENOENT) die("cannot read", path);
        return json_new(J_OBJECT);
    }
    if (length == 0) return json_new(J_OBJECT);
    jvalue *feedback = json_parse(text, length);
    if (!feedback) {
        /* What inginious_container_api.feedback does with a file it cannot read. */
        feedback = json_new(J_OBJECT);
        json_set(feedback, "result", json_string("crash", 5));
        const char *text = "Feedback file has been modified by user !";
        json_set(feedback, "text", json_string(text, strlen(text)));
    }
    if (feedback->type != J_OBJECT) {
        fprintf(stderr, "%s: the feedback is not a JSON object\n", path);
        exit(1);
    }
    return feedback;
}

void save_feedback(const jvalue *feedback) {
    const char *dir = inbox_path("/.__output");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) die("cannot make", dir);
    const char *path = inbox_path("/.__output/__feedback.json");
    jbuffer out = {0};
    json_write(&out, feedback);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) die("cannot write", path);
    for (size_t done = 0; done < out.length;) {
        ssize_t n = write(fd, out.bytes + done, out.length - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) die("cannot write", path);
        done += (size_t)n;
    }
    if (close(fd) != 0) die("cannot write", path);
}

static void put_byte(jbuffer *b, unsigned c) { char ch = (char)c; jbuffer_add(b, &ch, 1); }

static void put_code(jbuffer *b, uint32_t c) {
    /* Below 256 a code is a byte (the latin1 step); above, Python would fail: it is kept as UTF-8. */
    if (c < 0x100) { put_byte(b, c); return; }
    if (c < 0x800) { put_byte(b, 0xC0 | c >> 6); put_byte(b, 0x80 | (c & 0x3F)); return; }
    if (c < 0x10000) { put_byte(b, 0xE0 | c >> 12); put_byte(b, 0x80 | ((c >> 6) & 0x3F)); put_byte(b, 0x80 | (c & 0x3F)); return; }
    put_byte(b, 0xF0 | c >> 18); put_byte(b, 0x80 | ((c >> 12) & 0x3F)); put_byte(b, 0x80 | ((c >> 6) & 0x3F)); put_byte(b, 0x80 | (c & 0x3F));
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

char *unescape(const char *text, size_t *length) {
    jbuffer b = {0};
    jbuffer_add(&b, "", 0);
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++) {
        if (text[i] != '\\' || i + 1 >= n) { put_byte(&b, (unsigned char)text[i]); continue; }
        char e = text[++i];
        switch (e) {
        case '\n': continue;   /* a backslash-newline is a line continuation */
        case '\\': put_byte(&b, '\\'); continue;
        case '\'': put_byte(&b, '\''); continue;
        case '"': put_byte(&b, '"'); continue;
        case 'a': put_byte(&b, 7); continue;
        case 'b': put_byte(&b, 8); continue;
        case 'f': put_byte(&b, 12); continue;
        case 'n': put_byte(&b, 10); continue;
        case 'r': put_byte(&b, 13); continue;
        case 't': put_byte(&b, 9); continue;
        case 'v': put_byte(&b, 11); continue;
        }
        if (e >= '0' && e <= '7') {
            unsigned v = 0;
            int k = 0;
            for (; k < 3 && i + k < n && text[i + k] >= '0' && text[i + k] <= '7'; k++) v = v * 8 + (unsigned)(text[i + k] - '0');
            i += (size_t)k - 1;
            put_code(&b, v);
            continue;
        }
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits) {
            uint32_t v = 0;
            int ok = 1;
            for (int k = 1; k <= digits; k++) {
                int h = i + (size_t)k < n ? hex_value(text[i + k]) : -1;
                if (h < 0) { ok = 0; break; }
                v = v << 4 | (uint32_t)h;
            }
            if (ok && v <= 0x10FFFF) {
                put_code(&b, v);
                i += (size_t)digits;
                continue;
            }
        }
        /* Not an escape Python knows: kept as written. */
        put_byte(&b, '\\');
        put_byte(&b, (unsigned char)e);
    }
    *length = b.length;
    return b.bytes;
}

static jvalue *problems_of(jvalue *feedback) {
    jvalue *problems = json_get(feedback, "problems");
    if (!problems || problems->type != J_OBJECT) {
        problems = json_new(J_OBJECT);
        json_set(feedback, "problems", problems);
    }
    return problems;
}

static jvalue *concat(const jvalue *a, const char *b, size_t n) {
    jbuffer s = {0};
    jbuffer_add(&s, "", 0);
    if (a && a->type == J_STRING) jbuffer_add(&s, a->text, a->length);
    jbuffer_add(&s, b, n);
    jvalue *v = json_string(s.bytes, s.length);
    free(s.bytes);
    return v;
}

static void set_result(const char *result, const char *problem) {
    jvalue *feedback = load_feedback();
    jvalue *value = json_string(result, strlen(result));
    if (!problem || !*problem) json_set(feedback, "result", value);
    else {
        /* A problem is "text" until it has a result, then [result, text]. */
        jvalue *problems = problems_of(feedback);
        jvalue *current = json_get(problems, problem);
        jvalue *pair = json_new(J_ARRAY);
        json_append(pair, value);
        if (current && current->type == J_ARRAY && current->count > 1) json_append(pair, current->items[1]);
        else if (current && current->type == J_STRING) json_append(pair, current);
        else json_append(pair, json_string("", 0));
        json_set(problems, problem, pair);
    }
    save_feedback(feedback);
}

static void set_text(const char *text, size_t length, const char *problem, int append) {
    jvalue *feedback = load_feedback();
    if (!problem || !*problem) {
        json_set(feedback, "text", append ? concat(json_get(feedback, "text"), text, length) : json_string(text, length));
    } else {
        jvalue *problems = problems_of(feedback);
        jvalue *current = json_get(problems, problem);
        if (current && current->type == J_ARRAY && current->count > 1) {
            jvalue *pair = json_new(J_ARRAY);
            json_append(pair, current->items[0]);
            json_append(pair, append ? concat(current->items[1], text, length) : json_string(text, length));
            json_set(problems, problem, pair);
        } else {
            json_set(problems, problem, append ? concat(current, text, length) : json_string(text, length));
        }
    }
    save_feedback(feedback);
}

static void set_grade(const char *grade) {
    jvalue *number = json_python_float(grade);
    if (!number) {
        fprintf(stderr, "ValueError: could not convert string to float: '%s'\n", grade);
        exit(1);
    }
    jvalue *feedback = load_feedback();
    json_set(feedback, "grade", number);
    save_feedback(feedback);
}

static void set_custom(const char *key, const char *text, int is_json) {
    jvalue *value;
    if (is_json) {
        value = json_parse(text, strlen(text));
        if (!value) {
            printf("Cannot decode json. Invalid value for --json\n");
            exit(1);
        }
    } else {
        /* As the stock command does: an int if int() takes it, else a float, else the text. */
        value = json_python_int(text);
        if (!value) value = json_python_float(text);
        if (!value) value = json_string(text, strlen(text));
    }
    jvalue *feedback = load_feedback();
    jvalue *custom = json_get(feedback, "custom");
    if (!custom || custom->type != J_OBJECT) {
        custom = json_new(J_OBJECT);
        json_set(feedback, "custom", custom);
    }
    json_set(custom, key, value);
    save_feedback(feedback);
}

int cmd_feedback_result(int argc, char **argv) {
    const char *id = "", *result;
    option options[] = {{'i', "id", "ID", &id, NULL}};
    const char *names[] = {"result"};
    command_line cl = {"feedback-result", "Set the result of the task or specified problem.", options, 1, names, 1, 0};
    parse_arguments(&cl, argc, argv, &result, NULL, NULL);
    set_result(result, id);
    return 0;
}

int cmd_feedback_grade(int argc, char **argv) {
    const char *grade;
    const char *names[] = {"grade"};
    command_line cl = {"feedback-grade", "Set the grade/score of the task.", NULL, 0, names, 1, 0};
    parse_arguments(&cl, argc, argv, &grade, NULL, NULL);
    set_grade(grade);
    return 0;
}

int cmd_feedback_msg(int argc, char **argv) {
    const char *id = "", *message = "";
    int append = 0, escape = 0;
    option options[] = {
        {'a', "append", NULL, NULL, &append},
        {'i', "id", "ID", &id, NULL},
        {'e', "escape", NULL, NULL, &escape},
        {'m', "message", "MESSAGE", &message, NULL},
    };
    command_line cl = {"feedback-msg", "Set the feedback message of the task or specified problem.\n"
                       "If message not specified, reads on stdin.", options, 4, NULL, 0, 0};
    parse_arguments(&cl, argc, argv, NULL, NULL, NULL);
    size_t length = strlen(message);
    char *text = (char *)message;
    if (!*message) {
        text = read_all(0, &length);
        if (!text) die("cannot read", "stdin");
    }
    if (escape) text = unescape(text, &length);
    set_text(text, length, id, append);
    return 0;
}

int cmd_feedback_custom(int argc, char **argv) {
    int is_json = 0;
    const char *positionals[2];
    option options[] = {{'j', "json", NULL, NULL, &is_json}};
    const char *names[] = {"key", "value"};
    command_line cl = {"feedback-custom", "Set a pair of custom key/value feedback fields", options, 1, names, 2, 0};
    parse_arguments(&cl, argc, argv, positionals, NULL, NULL);
    set_custom(positionals[0], positionals[1], is_json);
    return 0;
}

int cmd_feedback_state(int argc, char **argv) {
    const char *value;
    const char *names[] = {"value"};
    command_line cl = {"feedback-state", "Set the task state as a string.", NULL, 0, names, 1, 0};
    parse_arguments(&cl, argc, argv, &value, NULL, NULL);
    jvalue *feedback = load_feedback();
    json_set(feedback, "state", json_string(value, strlen(value)));
    save_feedback(feedback);
    return 0;
}

int cmd_feedback(int argc, char **argv) {
    const char *result = "", *grade = "", *text = "", *id = "", *custom = "", *custom_json = "";
    int escape = 0, print = 0;
    option options[] = {
        {'r', "result", "RESULT", &result, NULL},
        {'g', "grade", "GRADE", &grade, NULL},
        {'f', "feedback", "FEEDBACK", &text, NULL},
        {'i', "id", "ID", &id, NULL},
        {'e', "escape", NULL, NULL, &escape},
        {'p', "print", NULL, NULL, &print},
        {'c', "custom", "CUSTOM", &custom, NULL},
        {'j', "custom-json", "CUSTOM_JSON", &custom_json, NULL},
    };
    command_line cl = {"feedback", "Set the result of the task or specified problem.", options, 8, NULL, 0, 0};
    parse_arguments(&cl, argc, argv, NULL, NULL, NULL);
    size_t length = strlen(text);
    char *message = (char *)text;
    if (escape) message = unescape(text, &length);
    if (*result) set_result(result, id);
    if (*grade) set_grade(grade);
    if (length) set_text(message, length, id, 0);
    const char *pair = *custom_json ? custom_json : custom;
    if (*pair) {
        /* name:value, the value being all after the first colon. */
        const char *colon = strchr(pair, ':');
        size_t name_length = colon ? (size_t)(colon - pair) : strlen(pair);
        char *name = strndup(pair, name_length);
        /* INGInious 0.9.2's command checks a --custom-json value but never
         * stores it (the store is in the --custom branch): kept, so a job
         * gives the result it gives on INGInious. */
        if (*custom_json) {
            if (!json_parse(colon ? colon + 1 : "", colon ? strlen(colon + 1) : 0)) {
                printf("Cannot decode json. Invalid value for --custom-json\n");
                exit(1);
            }
        } else set_custom(name, colon ? colon + 1 : "", 0);
    }
    if (print) {
        jbuffer out = {0};
        json_write(&out, load_feedback());
        printf("%s\n", out.bytes);
    }
    return 0;
}

int cmd_tag(int argc, char **argv) {
    const char *value;
    const char *names[] = {"value"};
    command_line cl = {"tag", "Tag a value.", NULL, 0, names, 1, 0};
    parse_arguments(&cl, argc, argv, &value, NULL, NULL);
    /* The stock command names the tag with Python's hash() of the value, which
     * differs from process to process: any number distinct per value does. */
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) h = (h ^ *p) * 1099511628211ull;
    char key[64];
    snprintf(key, sizeof key, "*auto-tag-%lld", (long long)h);
    jvalue *feedback = load_feedback();
    jvalue *tests = json_get(feedback, "tests");
    if (!tests || tests->type != J_OBJECT) {
        tests = json_new(J_OBJECT);
        json_set(feedback, "tests", tests);
    }
    json_set(tests, key, json_string(value, strlen(value)));
    save_feedback(feedback);
    return 0;
}

int cmd_tag_set(int argc, char **argv) {
    const char *positionals[2];
    const char *names[] = {"tag", "value"};
    command_line cl = {"tag-set", "Set the tag to True of False.", NULL, 0, names, 2, 0};
    parse_arguments(&cl, argc, argv, positionals, NULL, NULL);
    const char *tag = positionals[0], *value = positionals[1];
    if (strncmp(tag, "*auto-tag-", 10) == 0) return 0;
    jvalue *feedback = load_feedback();
    jvalue *tests = json_get(feedback, "tests");
    if (!tests || tests->type != J_OBJECT) {
        tests = json_new(J_OBJECT);
        json_set(feedback, "tests", tests);
    }
    json_set(tests, tag, json_new(strcmp(value, "True") == 0 || strcmp(value, "true") == 0 ? J_TRUE : J_FALSE));
    save_feedback(feedback);
    return 0;
}

static void write_out(const char *bytes, size_t length) {
    for (size_t done = 0; done < length;) {
        ssize_t n = write(1, bytes + done, length - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) exit(1);
        done += (size_t)n;
    }
}

int cmd_getinput(int argc, char **argv) {
    const char *problem;
    const char *names[] = {"problem"};
    command_line cl = {"getinput", "Get data associated with an input field.", NULL, 0, names, 1, 0};
    parse_arguments(&cl, argc, argv, &problem, NULL, NULL);
    size_t length = 0;
    char *text = read_file(inbox_path("/.__input/__inputdata.json"), &length);
    if (!text) { fputs("Input file not found", stderr); return 2; }
    /* input.py strips NULs and whitespace around the file's JSON. */
    while (length && (text[length - 1] == 0 || text[length - 1] == ' ' || text[length - 1] == '\n' || text[length - 1] == '\t' || text[length - 1] == '\r')) length--;
    size_t start = 0;
    while (start < length && (text[start] == 0 || text[start] == ' ' || text[start] == '\n' || text[start] == '\t' || text[start] == '\r')) start++;
    jvalue *data = json_parse(text + start, length - start);
    if (!data) { fputs("Input is not compatible", stderr); return 2; }
    /* problem[:filename] */
    char *id = strdup(problem);
    char *colon = strchr(id, ':');
    const char *sub = NULL;
    if (colon) { *colon = 0; sub = colon + 1; char *more = strchr((char *)sub, ':'); if (more) *more = 0; }
    jvalue *value = json_get(json_get(data, "input"), id);
    if (!value) {
        fprintf(stderr, "KeyError: '%s'\n", id);
        return 1;
    }
    jvalue *filename = json_get(value, "filename"), *path = json_get(value, "value");
    if (value->type == J_OBJECT && filename && path) {
        if (sub && strcmp(sub, "filename") == 0) value = filename;
        else {
            if (path->type != J_STRING) { fputs("Input is not compatible", stderr); return 2; }
            size_t n;
            char *bytes = read_file(path->text, &n);
            if (!bytes) { fputs("Input file not found", stderr); return 2; }
            write_out(bytes, n);
            return 0;
        }
    }
    jbuffer out = {0};
    switch (value->type) {
    case J_STRING: write_out(value->text, value->length); return 0;
    case J_TRUE: write_out("True", 4); return 0;
    case J_FALSE: write_out("False", 5); return 0;
    case J_NUMBER: json_write(&out, value); break;
    case J_ARRAY:
    case J_OBJECT: json_write(&out, value); break;
    case J_NULL:
        fputs("Invalid/unknown input format. Please access it from Python using input.get_input.", stderr);
        return 2;
    }
    /* str() of a float is its repr; json.dumps writes NaN and Infinity, str() nan and inf. */
    if (value->type == J_NUMBER && strcmp(out.bytes, "NaN") == 0) write_out("nan", 3);
    else if (value->type == J_NUMBER && strstr(out.bytes, "Infinity")) write_out(out.bytes[0] == '-' ? "-inf" : "inf", out.bytes[0] == '-' ? 4 : 3);
    else write_out(out.bytes, out.length);
    return 0;
}
