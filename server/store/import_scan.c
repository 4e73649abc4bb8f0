/* import_scan.c -- the import document's outer structure, streamed
 *
 * A state machine over {"services": [ELEMENT, ...]} (import_scan.h says
 * what it returns and checks). Positions follow jansson's lexer, so that
 * its messages and ours agree: lines from 1, the column counts the
 * characters (UTF-8 first bytes) read on the line, and an error is
 * reported after the token it is about has been read, "near" that token
 * (or "near end of file").
 *
 * Buffer: bytes before sc->mark (the start of the element being scanned)
 * may be dropped when more are read; an element must fit in the buffer,
 * which grows up to SL_SCAN_MAX_ELEMENT plus a chunk. In memory mode the
 * caller's bytes are the buffer.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "import_scan.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    SCAN_START,     /* before the document */
    SCAN_KEY_FIRST, /* after '{' */
    SCAN_ARRAY,     /* after "services": [ */
    SCAN_ELEMENT,   /* after an element */
    SCAN_AFTER_OBJ, /* after a member's value */
    SCAN_DONE,      /* the document ended well */
};

void sl_scan_init_fd(struct sl_scan *sc, int fd, const char *path)
{
    memset(sc, 0, sizeof(*sc));
    sc->fd = fd;
    sc->path = path;
    sc->mark = SIZE_MAX;
    sc->line = 1;
}

void sl_scan_init_mem(struct sl_scan *sc, const char *json, size_t len)
{
    memset(sc, 0, sizeof(*sc));
    sc->fd = -1;
    sc->buf = (char *)json;
    sc->end = len;
    sc->eof = true;
    sc->mark = SIZE_MAX;
    sc->line = 1;
}

void sl_scan_free(struct sl_scan *sc)
{
    if (sc->fd >= 0)
        free(sc->buf);
    sc->buf = NULL;
}

/* Reads more bytes: 1, 0 at the end of the file, or -1 with err set. */
static int refill(struct sl_scan *sc, struct sl_err *err)
{
    if (sc->eof)
        return 0;
    size_t keep = sc->mark == SIZE_MAX ? sc->pos : sc->mark;
    if (keep) { /* drop what is no longer needed */
        memmove(sc->buf, sc->buf + keep, sc->end - keep);
        sc->end -= keep;
        sc->pos -= keep;
        if (sc->mark != SIZE_MAX)
            sc->mark = 0;
    }
    if (sc->cap - sc->end < SL_SCAN_CHUNK) {
        if (sc->end > SL_SCAN_MAX_ELEMENT) {
            sl_err_set(err, SL_EFORMAT,
                       "services[%zu]: longer than %u bytes of JSON (one "
                       "service's logs are imported together)",
                       sc->index, SL_SCAN_MAX_ELEMENT);
            return -1;
        }
        size_t cap = sc->cap ? 2 * sc->cap : SL_SCAN_CHUNK;
        if (cap < sc->end + SL_SCAN_CHUNK)
            cap = sc->end + SL_SCAN_CHUNK;
        char *b = realloc(sc->buf, cap);
        if (!b) {
            sl_err_set(err, SL_ENOMEM, "%s: out of memory", sc->path);
            return -1;
        }
        sc->buf = b;
        sc->cap = cap;
    }
    for (;;) {
        ssize_t r = read(sc->fd, sc->buf + sc->end, sc->cap - sc->end);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            sl_err_set(err, SL_EIO, "%s: %s", sc->path, strerror(errno));
            return -1;
        }
        if (r == 0)
            sc->eof = true;
        sc->end += (size_t)r;
        return r > 0;
    }
}

/* The next byte without taking it: 0..255, -1 at the end, -2 on error. */
static int peek(struct sl_scan *sc, struct sl_err *err)
{
    if (sc->pos == sc->end) {
        int r = refill(sc, err);
        if (r <= 0)
            return r == 0 ? -1 : -2;
    }
    return (unsigned char)sc->buf[sc->pos];
}

/* Takes the byte peek() returned, moving the position as jansson does. */
static void take(struct sl_scan *sc)
{
    unsigned char c = (unsigned char)sc->buf[sc->pos++];
    if (c == '\n') {
        sc->line++;
        sc->column = 0;
    } else if (c < 0x80 || (c >= 0xc2 && c <= 0xf4)) {
        sc->column++; /* the first byte of a character */
    }
}

static int skip_ws(struct sl_scan *sc, struct sl_err *err)
{
    int c;
    while ((c = peek(sc, err)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        take(sc);
    return c;
}

/* "invalid JSON at ...: what near 'TOKEN'", the token being the one at
 * the position (read here), or "near end of file". */
static int syntax(struct sl_scan *sc, const char *what, struct sl_err *err)
{
    char tok[24];
    size_t n = 0;
    int c = peek(sc, err);
    if (c == -2)
        return err->code;
    if (c == '"') {
        take(sc);
        tok[n++] = '"';
        while (n < 21 && (c = peek(sc, err)) >= 0 && c != '"') {
            take(sc);
            tok[n++] = (char)c;
            if (c == '\\' && peek(sc, err) >= 0 && n < 21) {
                tok[n++] = sc->buf[sc->pos];
                take(sc);
            }
        }
        if (c == '"' && n < 21) {
            take(sc);
            tok[n++] = '"';
        }
    } else if (c >= 0 && strchr("{}[]:,", c)) {
        take(sc);
        tok[n++] = (char)c;
    } else {
        while (n < 20 && (c = peek(sc, err)) >= 0 &&
               !strchr(" \t\r\n{}[]:,\"", c)) {
            take(sc);
            tok[n++] = (char)c;
        }
    }
    tok[n] = '\0';
    if (n == 0)
        return sl_err_set(err, SL_EFORMAT,
                          "invalid JSON at line %d column %d: %s near end of "
                          "file",
                          sc->line, sc->column, what);
    return sl_err_set(err, SL_EFORMAT,
                      "invalid JSON at line %d column %d: %s near '%s'",
                      sc->line, sc->column, what, tok);
}

int sl_scan_json_error(const json_error_t *jerr, int line, int column,
                       struct sl_err *err)
{
    if (json_error_code(jerr) == json_error_out_of_memory)
        return sl_err_set(err, SL_ENOMEM, "out of memory: %s", jerr->text);
    int l = jerr->line, c = jerr->column;
    if (l <= 1) {
        l = line;
        c = column + (c > 0 ? c : 0);
    } else {
        l = line + l - 1;
    }
    return sl_err_set(err, SL_EFORMAT, "invalid JSON at line %d column %d: %s",
                      l, c, jerr->text);
}

/* Scans one JSON value (its extent only: jansson checks it) from the
 * position; sets *text and *len, and where it starts. The bytes stay in
 * the buffer until the next call. */
static int scan_value(struct sl_scan *sc, const char **text, size_t *len,
                      int *line, int *column, struct sl_err *err)
{
    int depth = 0, c = peek(sc, err);
    bool in_str = false;
    if (c == -2)
        return err->code;
    if (c < 0 || strchr("}]:,", c))
        return syntax(sc, "unexpected token", err);
    sc->mark = sc->pos;
    *line = sc->line;
    *column = sc->column;
    while ((c = peek(sc, err)) >= 0) {
        if (in_str) {
            take(sc);
            if (c == '\\') {
                if (peek(sc, err) < 0)
                    break;
                take(sc);
            } else if (c == '"') {
                in_str = false;
                if (depth == 0)
                    break;
            }
            continue;
        }
        if (depth == 0 && sc->pos > sc->mark &&
            (c == ',' || c == ']' || c == '}' || c == ':' || c == ' ' ||
             c == '\t' || c == '\n' || c == '\r'))
            break; /* the end of a scalar */
        take(sc);
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            break;
    }
    if (c == -2)
        return err->code;
    *text = sc->buf + sc->mark;
    *len = sc->pos - sc->mark;
    sc->mark = SIZE_MAX; /* kept until the next refill, which the caller
                            makes only after it is done with the text */
    return SL_OK;
}

/* A member's value other than the services array: decoded by jansson (so
 * that bad JSON is reported as such), then refused with msg. */
static int refuse_value(struct sl_scan *sc, const char *msg, struct sl_err *err)
{
    const char *text;
    size_t len;
    int line, column, rc;
    json_error_t jerr;
    if ((rc = scan_value(sc, &text, &len, &line, &column, err)) != SL_OK)
        return rc;
    json_t *v =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return sl_scan_json_error(&jerr, line, column, err);
    json_decref(v);
    return sl_err_set(err, SL_EFORMAT, "%s", msg);
}

/* A member of the document: its key (at the position) and value. Leaves
 * the state SCAN_ARRAY after "services": [, else fails. */
static int member(struct sl_scan *sc, struct sl_err *err)
{
    const char *text;
    size_t len;
    int line, column, rc, c;
    json_error_t jerr;
    if ((c = peek(sc, err)) != '"')
        return c == -2 ? err->code : syntax(sc, "string or '}' expected", err);
    if ((rc = scan_value(sc, &text, &len, &line, &column, err)) != SL_OK)
        return rc;
    json_t *k = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (!k)
        return sl_scan_json_error(&jerr, line, column, err);
    char key[72];
    snprintf(key, sizeof(key), "%.64s", json_string_value(k));
    bool services = json_string_length(k) == 8 && strcmp(key, "services") == 0;
    json_decref(k);
    if (services && sc->seen_services) {
        char tok[24];
        snprintf(tok, sizeof(tok), "%.*s", len <= 20 ? (int)len : 0, text);
        return sl_err_set(err, SL_EFORMAT,
                          "invalid JSON at line %d column %d: duplicate "
                          "object key%s%s%s",
                          sc->line, sc->column, len <= 20 ? " near '" : "", tok,
                          len <= 20 ? "'" : "");
    }
    if ((c = skip_ws(sc, err)) != ':')
        return c == -2 ? err->code : syntax(sc, "':' expected", err);
    take(sc);
    if ((c = skip_ws(sc, err)) == -2)
        return err->code;
    if (!services) {
        char msg[96];
        snprintf(msg, sizeof(msg), "$: unknown field \"%s\"", key);
        return refuse_value(sc, msg, err);
    }
    if (c != '[')
        return refuse_value(sc, "services: expected an array", err);
    take(sc);
    sc->seen_services = true;
    sc->state = SCAN_ARRAY;
    return SL_OK;
}

/* After the document's '}': only white space may follow. */
static int document_end(struct sl_scan *sc, struct sl_err *err)
{
    int c = skip_ws(sc, err);
    if (c == -2)
        return err->code;
    if (c >= 0)
        return syntax(sc, "end of file expected", err);
    if (!sc->seen_services)
        return sl_err_set(err, SL_EFORMAT,
                          "$: missing required field services");
    sc->state = SCAN_DONE;
    return SL_OK;
}

int sl_scan_next(struct sl_scan *sc, const char **text, size_t *len, int *line,
                 int *column, bool *done, struct sl_err *err)
{
    int c, rc;
    *done = false;
    for (;;) {
        if ((c = skip_ws(sc, err)) == -2)
            return err->code;
        switch (sc->state) {
        case SCAN_START:
            if (c == '[')
                return refuse_value(sc, "$: expected an object", err);
            if (c != '{')
                return syntax(sc, "'[' or '{' expected", err);
            take(sc);
            sc->state = SCAN_KEY_FIRST;
            break;
        case SCAN_KEY_FIRST:
            if (c == '}') {
                take(sc);
                rc = document_end(sc, err);
                *done = rc == SL_OK;
                return rc;
            }
            if ((rc = member(sc, err)) != SL_OK)
                return rc;
            break;
        case SCAN_ARRAY:
        case SCAN_ELEMENT:
            if (c == ']') {
                if (sc->state == SCAN_ARRAY && sc->index > 0)
                    return syntax(sc, "unexpected token", err);
                take(sc);
                sc->state = SCAN_AFTER_OBJ;
                break;
            }
            if (sc->state == SCAN_ELEMENT) {
                if (c != ',')
                    return syntax(sc, "']' expected", err);
                take(sc);
                sc->state = SCAN_ARRAY;
                break;
            }
            if ((rc = scan_value(sc, text, len, line, column, err)) != SL_OK)
                return rc;
            sc->index++;
            sc->state = SCAN_ELEMENT;
            return SL_OK;
        case SCAN_AFTER_OBJ:
            if (c == '}') {
                take(sc);
                rc = document_end(sc, err);
                *done = rc == SL_OK;
                return rc;
            }
            if (c != ',')
                return syntax(sc, "'}' expected", err);
            take(sc);
            if (skip_ws(sc, err) == -2)
                return err->code;
            if ((rc = member(sc, err)) != SL_OK)
                return rc;
            break;
        default:
            *done = true;
            return SL_OK;
        }
    }
}
