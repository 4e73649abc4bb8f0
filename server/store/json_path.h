/* json_path.h -- the JSON-path-like name of the value being checked
 *
 * What import's and the writers' error messages start with
 * ("services[1].logs[0].result: ...", "log.config[1].weight: ..."). A
 * bounded buffer: a path too long for it is cut, never overflowed. Push
 * returns the length to pop back to, so a checker names each level on its
 * way down and restores it on the way up. One owner, no allocation.
 */
#ifndef SL_JSON_PATH_H
#define SL_JSON_PATH_H

#include <stdarg.h>
#include <stddef.h>

#include "error.h"

struct sl_jpath {
    size_t len;    /* strlen(buf) */
    char buf[192]; /* the path; "" at the top level */
};

/* Appends printf-style text; returns the old length for sl_jpath_pop(). */
size_t sl_jpath_push(struct sl_jpath *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sl_jpath_pop(struct sl_jpath *p, size_t old);
/* A member known to be an identifier: ".name" (no dot at the top). */
size_t sl_jpath_field(struct sl_jpath *p, const char *name);
/* A member of any name: .NAME when it is [A-Za-z0-9_-]{1,40}, else
 * ["NAME"] with quotes, backslashes and control bytes escaped, cut to 40
 * bytes ("..." after). */
size_t sl_jpath_key(struct sl_jpath *p, const char *key);
/* The path, or "$" at the top level. */
const char *sl_jpath_str(const struct sl_jpath *p);
/* Sets err to code with "<path>: <message>"; returns code. */
int sl_jpath_vfail(const struct sl_jpath *p, struct sl_err *err, int code,
                   const char *fmt, va_list ap);

#endif
