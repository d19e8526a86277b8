#include "json.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The commands are short-lived processes: an allocation that fails ends them. */
static void *grow(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) { fputs("out of memory\n", stderr); exit(1); }
    return q;
}

void jbuffer_add(jbuffer *out, const char *bytes, size_t length) {
    if (out->length + length + 1 > out->capacity) {
        out->capacity = (out->length + length + 1) * 2;
        out->bytes = grow(out->bytes, out->capacity);
    }
    memcpy(out->bytes + out->length, bytes, length);
    out->length += length;
    out->bytes[out->length] = 0;
}

static void add_str(jbuffer *out, const char *s) { jbuffer_add(out, s, strlen(s)); }

jvalue *json_new(enum jtype type) {
    jvalue *v = grow(NULL, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

jvalue *json_string(const char *bytes, size_t length) {
    jvalue *v = json_new(J_STRING);
    v->text = grow(NULL, length + 1);
    memcpy(v->text, bytes, length);
    v->text[length] = 0;
    v->length = length;
    return v;
}

jvalue *json_number(const char *text) {
    jvalue *v = json_string(text, strlen(text));
    v->type = J_NUMBER;
    return v;
}

static void add_item(jvalue *container, char *key, size_t key_length, jvalue *value) {
    if (container->count == container->capacity) {
        container->capacity = container->capacity ? container->capacity * 2 : 8;
        container->items = grow(container->items, container->capacity * sizeof *container->items);
        container->keys = grow(container->keys, container->capacity * sizeof *container->keys);
        container->key_lengths = grow(container->key_lengths, container->capacity * sizeof *container->key_lengths);
    }
    container->items[container->count] = value;
    container->keys[container->count] = key;
    container->key_lengths[container->count] = key_length;
    container->count++;
}

jvalue *json_get(const jvalue *object, const char *key) {
    if (!object || object->type != J_OBJECT) return NULL;
    size_t length = strlen(key);
    /* Python's dict keeps the last of duplicate keys. */
    for (size_t i = object->count; i-- > 0;)
        if (object->key_lengths[i] == length && memcmp(object->keys[i], key, length) == 0) return object->items[i];
    return NULL;
}

void json_set(jvalue *object, const char *key, jvalue *value) {
    size_t length = strlen(key);
    for (size_t i = object->count; i-- > 0;)
        if (object->key_lengths[i] == length && memcmp(object->keys[i], key, length) == 0) {
            object->items[i] = value;
            return;
        }
    char *copy = grow(NULL, length + 1);
    memcpy(copy, key, length + 1);
    add_item(object, copy, length, value);
}

void json_append(jvalue *array, jvalue *value) { add_item(array, NULL, 0, value); }

/* ---- reading ---- */

typedef struct { const char *p, *end; int depth; } reader;

static void skip_space(reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static void put_utf8(jbuffer *out, uint32_t c) {
    char b[4];
    if (c < 0x80) { b[0] = (char)c; jbuffer_add(out, b, 1); }
    else if (c < 0x800) { b[0] = (char)(0xC0 | c >> 6); b[1] = (char)(0x80 | (c & 0x3F)); jbuffer_add(out, b, 2); }
    else if (c < 0x10000) {
        /* A lone surrogate is kept as its 3-byte form (as Python keeps it in a str) and written back as \udXXX. */
        b[0] = (char)(0xE0 | c >> 12); b[1] = (char)(0x80 | ((c >> 6) & 0x3F)); b[2] = (char)(0x80 | (c & 0x3F));
        jbuffer_add(out, b, 3);
    } else {
        b[0] = (char)(0xF0 | c >> 18); b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F)); b[3] = (char)(0x80 | (c & 0x3F));
        jbuffer_add(out, b, 4);
    }
}

static int hex4(reader *r, uint32_t *out) {
    if (r->end - r->p < 4) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    r->p += 4;
    *out = v;
    return 1;
}

/* A string's contents after its opening quote; NULL on bad JSON (control characters are refused, as json.loads does). */
static char *read_string(reader *r, size_t *length) {
    jbuffer s = {0};
    jbuffer_add(&s, "", 0);
    while (r->p < r->end) {
        unsigned char c = (unsigned char)*r->p++;
        if (c == '"') { *length = s.length; return s.bytes; }
        if (c < 0x20) break;
        if (c != '\\') { char b = (char)c; jbuffer_add(&s, &b, 1); continue; }
        if (r->p >= r->end) break;
        char e = *r->p++;
        const char *simple = NULL;
        switch (e) {
        case '"': simple = "\""; break;
        case '\\': simple = "\\"; break;
        case '/': simple = "/"; break;
        case 'b': simple = "\b"; break;
        case 'f': simple = "\f"; break;
        case 'n': simple = "\n"; break;
        case 'r': simple = "\r"; break;
        case 't': simple = "\t"; break;
        case 'u': {
            uint32_t u;
            if (!hex4(r, &u)) goto bad;
            if (u >= 0xD800 && u < 0xDC00 && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u') {
                reader look = *r;
                look.p += 2;
                uint32_t low;
                if (hex4(&look, &low) && low >= 0xDC00 && low < 0xE000) {
                    *r = look;
                    u = 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
                }
            }
            put_utf8(&s, u);
            continue;
        }
        default: goto bad;
        }
        jbuffer_add(&s, simple, 1);
    }
bad:
    free(s.bytes);
    return NULL;
}

static jvalue *read_value(reader *r);

static int literal(reader *r, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return 0;
    r->p += n;
    return 1;
}

static jvalue *read_number(reader *r) {
    const char *start = r->p;
    if (r->p < r->end && *r->p == '-') r->p++;
    if (literal(r, "Infinity")) goto done;
    if (r->p >= r->end || !isdigit((unsigned char)*r->p)) return NULL;
    if (*r->p == '0') r->p++;
    else while (r->p < r->end && isdigit((unsigned char)*r->p)) r->p++;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        if (r->p >= r->end || !isdigit((unsigned char)*r->p)) return NULL;
        while (r->p < r->end && isdigit((unsigned char)*r->p)) r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
        if (r->p >= r->end || !isdigit((unsigned char)*r->p)) return NULL;
        while (r->p < r->end && isdigit((unsigned char)*r->p)) r->p++;
    }
done:;
    jvalue *v = json_string(start, (size_t)(r->p - start));
    v->type = J_NUMBER;
    return v;
}

static jvalue *read_value(reader *r) {
    skip_space(r);
    if (r->p >= r->end || ++r->depth > 500) return NULL;   /* json.loads stops at Python's recursion limit too */
    jvalue *v = NULL;
    char c = *r->p;
    if (c == '{' || c == '[') {
        r->p++;
        v = json_new(c == '{' ? J_OBJECT : J_ARRAY);
        char close = c == '{' ? '}' : ']';
        skip_space(r);
        if (r->p < r->end && *r->p == close) { r->p++; goto out; }
        for (;;) {
            char *key = NULL;
            size_t key_length = 0;
            skip_space(r);
            if (v->type == J_OBJECT) {
                if (r->p >= r->end || *r->p != '"') return NULL;
                r->p++;
                if (!(key = read_string(r, &key_length))) return NULL;
                skip_space(r);
                if (r->p >= r->end || *r->p != ':') return NULL;
                r->p++;
            }
            jvalue *item = read_value(r);
            if (!item) return NULL;
            add_item(v, key, key_length, item);
            skip_space(r);
            if (r->p < r->end && *r->p == ',') { r->p++; continue; }
            if (r->p < r->end && *r->p == close) { r->p++; break; }
            return NULL;
        }
    } else if (c == '"') {
        r->p++;
        size_t length;
        char *text = read_string(r, &length);
        if (!text) return NULL;
        v = json_new(J_STRING);
        v->text = text;
        v->length = length;
    } else if (literal(r, "null")) v = json_new(J_NULL);
    else if (literal(r, "true")) v = json_new(J_TRUE);
    else if (literal(r, "false")) v = json_new(J_FALSE);
    else if (literal(r, "NaN")) v = json_number("NaN");
    else if (literal(r, "Infinity")) v = json_number("Infinity");
    else v = read_number(r);
out:
    r->depth--;
    return v;
}

jvalue *json_parse(const char *text, size_t length) {
    reader r = {text, text + length, 0};
    jvalue *v = read_value(&r);
    skip_space(&r);
    return v && r.p == r.end ? v : NULL;
}

/* ---- numbers as Python makes them ---- */

void python_float_repr(double d, char *out, size_t size) {
    if (isnan(d)) { snprintf(out, size, "NaN"); return; }
    if (isinf(d)) { snprintf(out, size, d < 0 ? "-Infinity" : "Infinity"); return; }
    /* The shortest digits that read back as d, as repr() picks them. */
    char e[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(e, sizeof e, "%.*e", precision - 1, d);
        if (strtod(e, NULL) == d) break;
    }
    const char *p = e;
    int negative = *p == '-';
    if (negative) p++;
    char digits[24];
    int n = 0;
    for (; *p && *p != 'e'; p++) if (*p != '.') digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = 0;
    int exponent = atoi(p + 1);
    char body[64];
    if (exponent >= -4 && exponent < 16) {
        if (exponent >= 0) {
            char whole[24], fraction[24];
            int w = 0, f = 0;
            for (int i = 0; i <= exponent; i++) whole[w++] = i < n ? digits[i] : '0';
            for (int i = exponent + 1; i < n; i++) fraction[f++] = digits[i];
            whole[w] = 0;
            if (f == 0) fraction[f++] = '0';
            fraction[f] = 0;
            snprintf(body, sizeof body, "%s.%s", whole, fraction);
        } else {
            snprintf(body, sizeof body, "0.%0*d%s", -exponent - 1, 0, digits);
            if (-exponent - 1 == 0) snprintf(body, sizeof body, "0.%s", digits);
        }
    } else {
        snprintf(body, sizeof body, "%c%s%s%se%c%02d", digits[0], n > 1 ? "." : "", digits + 1, "",
                 exponent < 0 ? '-' : '+', abs(exponent));
    }
    snprintf(out, size, "%s%s", negative ? "-" : "", body);
}

/* Python strips whitespace and allows single underscores between digits. */
static int python_number_text(const char *text, char *out, size_t size) {
    while (isspace((unsigned char)*text)) text++;
    size_t n = strlen(text);
    while (n > 0 && isspace((unsigned char)text[n - 1])) n--;
    if (n == 0 || n >= size) return 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '_') {
            if (i == 0 || i + 1 >= n || !isdigit((unsigned char)text[i - 1]) || !isdigit((unsigned char)text[i + 1])) return 0;
            continue;
        }
        out[o++] = text[i];
    }
    out[o] = 0;
    return 1;
}

jvalue *json_python_int(const char *text) {
    char t[256];
    if (!python_number_text(text, t, sizeof t)) return NULL;
    const char *p = t;
    int negative = 0;
    if (*p == '+' || *p == '-') negative = *p++ == '-';
    if (!*p) return NULL;
    for (const char *q = p; *q; q++) if (!isdigit((unsigned char)*q)) return NULL;
    while (p[0] == '0' && p[1]) p++;
    char out[260];
    snprintf(out, sizeof out, "%s%s", negative && strcmp(p, "0") != 0 ? "-" : "", p);
    return json_number(out);
}

jvalue *json_python_float(const char *text) {
    char t[256];
    if (!python_number_text(text, t, sizeof t)) return NULL;
    for (const char *q = t; *q; q++) if (*q == 'x' || *q == 'X' || *q == 'p' || *q == 'P') return NULL;
    char *end;
    double d = strtod(t, &end);
    if (end == t || *end) return NULL;
    char repr[64];
    python_float_repr(d, repr, sizeof repr);
    return json_number(repr);
}

/* ---- writing ---- */

static void write_string(jbuffer *out, const char *s, size_t n) {
    add_str(out, "\"");
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    char esc[16];
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') { jbuffer_add(out, (const char *)p, 1); p++; continue; }
        switch (c) {
        case '"': add_str(out, "\\\""); p++; continue;
        case '\\': add_str(out, "\\\\"); p++; continue;
        case '\n': add_str(out, "\\n"); p++; continue;
        case '\r': add_str(out, "\\r"); p++; continue;
        case '\t': add_str(out, "\\t"); p++; continue;
        case '\b': add_str(out, "\\b"); p++; continue;
        case '\f': add_str(out, "\\f"); p++; continue;
        }
        uint32_t code = 0;
        int need = c >= 0xF0 && c < 0xF5 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 && c < 0xE0 ? 1 : c < 0x80 ? 0 : -1;
        if (c >= 0xF5) need = -1;
        if (need > 0 && end - p > need) {
            code = c & (0x3F >> need);
            for (int i = 1; i <= need; i++) {
                if ((p[i] & 0xC0) != 0x80) { need = -1; break; }
                code = code << 6 | (p[i] & 0x3F);
            }
            if (need > 0 && ((need == 2 && code < 0x800) || (need == 3 && (code < 0x10000 || code > 0x10FFFF)))) need = -1;
        } else if (need > 0) need = -1;
        if (need == 0) code = c;
        if (need < 0) {
            /* A byte that is not UTF-8: as Python's surrogateescape holds it (argv bytes). */
            snprintf(esc, sizeof esc, "\\u%04x", 0xDC00 + c);
            add_str(out, esc);
            p++;
            continue;
        }
        if (code >= 0x10000) {
            uint32_t v = code - 0x10000;
            snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else snprintf(esc, sizeof esc, "\\u%04x", code);
        add_str(out, esc);
        p += need + 1;
    }
    add_str(out, "\"");
}

static void write_number(jbuffer *out, const jvalue *v) {
    /* json.loads made a float of anything with a fraction or an exponent; dumps writes its repr. */
    if (strpbrk(v->text, ".eE") && !strstr(v->text, "Infinity")) {
        char repr[64];
        python_float_repr(strtod(v->text, NULL), repr, sizeof repr);
        add_str(out, repr);
    } else add_str(out, v->text);
}

void json_write(jbuffer *out, const jvalue *v) {
    switch (v->type) {
    case J_NULL: add_str(out, "null"); break;
    case J_FALSE: add_str(out, "false"); break;
    case J_TRUE: add_str(out, "true"); break;
    case J_NUMBER: write_number(out, v); break;
    case J_STRING: write_string(out, v->text, v->length); break;
    case J_ARRAY:
    case J_OBJECT:
        add_str(out, v->type == J_ARRAY ? "[" : "{");
        for (size_t i = 0; i < v->count; i++) {
            if (i) add_str(out, ", ");
            if (v->type == J_OBJECT) {
                write_string(out, v->keys[i], v->key_lengths[i]);
                add_str(out, ": ");
            }
            json_write(out, v->items[i]);
        }
        add_str(out, v->type == J_ARRAY ? "]" : "}");
        break;
    }
}
