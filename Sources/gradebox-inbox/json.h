/*
 * A small JSON tree for the in-box commands: read what Python's json module
 * wrote, change it, and write it back as Python's json.dumps writes it
 * (", " and ": " separators, ASCII only, keys in insertion order), so a run
 * script may mix these commands with INGInious's Python API on one feedback file.
 */
#ifndef GRADEBOX_INBOX_JSON_H
#define GRADEBOX_INBOX_JSON_H

#include <stddef.h>

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT };

typedef struct jvalue {
    enum jtype type;
    /* J_STRING: the string's UTF-8 bytes (may hold NUL); J_NUMBER: its text as written. */
    char *text;
    size_t length;
    /* J_ARRAY and J_OBJECT: the items; J_OBJECT: their keys too (UTF-8, NUL-free not assumed). */
    struct jvalue **items;
    char **keys;
    size_t *key_lengths;
    size_t count, capacity;
} jvalue;

/* Parses the whole of `text`; NULL if it is not one JSON value (whitespace around allowed). */
jvalue *json_parse(const char *text, size_t length);
/* Appends `value`, as json.dumps writes it, to a growing buffer. */
typedef struct { char *bytes; size_t length, capacity; } jbuffer;
void json_write(jbuffer *out, const jvalue *value);
void jbuffer_add(jbuffer *out, const char *bytes, size_t length);

jvalue *json_new(enum jtype type);
jvalue *json_string(const char *bytes, size_t length);
jvalue *json_number(const char *text);
/* The number Python's float(text) makes, written as repr() writes it; NULL if float() would refuse it. */
jvalue *json_python_float(const char *text);
/* The number Python's int(text) makes; NULL if int() would refuse it. */
jvalue *json_python_int(const char *text);

jvalue *json_get(const jvalue *object, const char *key);
/* Sets `key` (kept in its place if present, else appended). */
void json_set(jvalue *object, const char *key, jvalue *value);
void json_append(jvalue *array, jvalue *value);

/* Writes a Python float's repr() of `d` into `out` (at least 32 bytes). */
void python_float_repr(double d, char *out, size_t size);

#endif
