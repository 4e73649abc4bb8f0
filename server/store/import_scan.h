/* import_scan.h -- the import document's outer structure, streamed (private)
 *
 * import.c hands jansson one services[i] at a time; this scanner is what
 * finds them. It reads {"services": [ ELEMENT, ... ]} from a file (in
 * SL_SCAN_CHUNK reads) or from memory, checks the JSON of that outer
 * structure itself, and returns each element's text, undecoded, with the
 * line and column where it starts, so that jansson's messages about an
 * element can be moved to their place in the file. Its own messages
 * follow jansson's ("invalid JSON at line L column C: string or '}'
 * expected near ','"), and the document's rules about the outer level
 * ("$: expected an object", "$: unknown field \"x\"", "services: expected
 * an array", "$: missing required field services") are checked here, a
 * member's value first decoded by jansson so that bad JSON is reported as
 * such. Scalars beside "services" are loaded whole, like elements.
 *
 * Memory: a buffer holding the element being scanned (at least one
 * chunk); an element longer than SL_SCAN_MAX_ELEMENT bytes is refused
 * (SL_EFORMAT naming services[i]), which bounds what one service costs.
 *
 * Ownership: the scanner owns its buffer (sl_scan_free); an element's text
 * lives until the next sl_scan_next. One thread.
 */
#ifndef SL_IMPORT_SCAN_H
#define SL_IMPORT_SCAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "error.h"

#define SL_SCAN_CHUNK (256 * 1024) /* bytes per read() */
/* The longest services[i] (its JSON text), 128 MiB: a service's logs are
 * imported together (the import replaces them all), so one service is
 * held whole while it is parsed, and jansson's tree of it is about 6
 * times its text. A file of many services stays within a few tens of MiB
 * whatever its size; one service of 200 000 logs (about 50 MB of JSON,
 * the big-history tests) costs about 300 MiB while it is parsed. Longer
 * is refused, naming the service. */
#define SL_SCAN_MAX_ELEMENT (128u * 1024 * 1024)

struct sl_scan {
    int fd;             /* the file; -1: memory */
    const char *path;   /* for read errors */
    char *buf;          /* owned when fd >= 0, else the caller's */
    size_t cap;         /* bytes buf has room for */
    size_t pos, end;    /* next byte to scan; end of the bytes read */
    size_t mark;        /* first byte to keep on a refill (SIZE_MAX: none) */
    bool eof;           /* the file has no more bytes */
    int state;          /* where in the document (import_scan.c) */
    int line, column;   /* after the last byte scanned (jansson's rules) */
    bool seen_services; /* the "services" member was read */
    size_t index;       /* the next element's index */
};

/* Scans the file at path (fd, owned by the caller, open for reading). */
void sl_scan_init_fd(struct sl_scan *sc, int fd, const char *path);
/* Scans json[0..len), the caller's, which must outlive the scanner. */
void sl_scan_init_mem(struct sl_scan *sc, const char *json, size_t len);
void sl_scan_free(struct sl_scan *sc);

/* The next element of services: SL_OK with *text, *len (not
 * NUL-terminated) and where it starts (*line, and *column: characters on
 * that line before it), or SL_OK with *done set when the document ended
 * well; else the error (SL_EFORMAT, SL_EIO naming the file, SL_ENOMEM).
 * After an error or *done, do not call again. */
int sl_scan_next(struct sl_scan *sc, const char **text, size_t *len, int *line,
                 int *column, bool *done, struct sl_err *err);

/* Moves a jansson error about text that starts at (line, column) to its
 * place in the document; sets err to "invalid JSON at line L column C:
 * TEXT" (SL_ENOMEM when jansson ran out of memory). */
int sl_scan_json_error(const json_error_t *jerr, int line, int column,
                       struct sl_err *err);

#endif
