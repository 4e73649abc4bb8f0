/* error.h -- the one error model of servicelogs
 *
 * Every failure in the server, the shim and the import path is one row of
 * SL_ERR_MAP: a negative code, a short message, the gRPC status it travels
 * as, the HTTP status the shim answers with, and the ModelArts error code
 * (DESIGN section 4) carried in google.rpc.ErrorInfo.reason.
 *
 * Detail text goes in a caller-owned struct sl_err, so the error path never
 * allocates.
 */
#ifndef SL_ERROR_H
#define SL_ERROR_H

#include <stdarg.h>

/* XX(name, message, grpc status, http status, ModelArts code) */
#define SL_ERR_MAP(XX)                                                         \
    XX(EINVAL, "invalid argument", INVALID_ARGUMENT, 400, "ModelArts.0101")    \
    XX(EBATCH, "batch services cannot be queried", FAILED_PRECONDITION, 400,   \
       "ModelArts.2858")                                                       \
    XX(ENOTOKEN, "missing auth token", UNAUTHENTICATED, 401, "ModelArts.0201") \
    XX(EBADTOKEN, "invalid auth token", UNAUTHENTICATED, 401,                  \
       "ModelArts.0203")                                                       \
    XX(EFORBIDDEN, "token not valid for this project", PERMISSION_DENIED, 403, \
       "ModelArts.0210")                                                       \
    XX(ENOTFOUND, "service not found", NOT_FOUND, 404, "ModelArts.3502")       \
    XX(ENOROUTE, "no such API", UNIMPLEMENTED, 404, "ModelArts.0104")          \
    XX(EMETHOD, "method not allowed", UNIMPLEMENTED, 405, "ModelArts.2803")    \
    XX(EOVERLOAD, "server overloaded", RESOURCE_EXHAUSTED, 429,                \
       "ModelArts.2799")                                                       \
    XX(EUNAVAIL, "service unavailable", UNAVAILABLE, 503, "ModelArts.4302")    \
    XX(ETIMEOUT, "deadline exceeded", DEADLINE_EXCEEDED, 504,                  \
       "ModelArts.0010")                                                       \
    XX(EINTERNAL, "internal error", INTERNAL, 500, "ModelArts.0010")           \
    XX(ENOMEM, "out of memory", INTERNAL, 500, "ModelArts.0010")               \
    XX(EFORMAT, "malformed input", INVALID_ARGUMENT, 400, "ModelArts.0101")    \
    XX(EIO, "i/o error", INTERNAL, 500, "ModelArts.0010")                      \
    XX(ETOOBIG, "answer too large", RESOURCE_EXHAUSTED, 500, "ModelArts.0010") \
    XX(EBUSY, "resource busy", INTERNAL, 500, "ModelArts.0010")                \
    XX(ECORRUPT, "stored data is corrupt", INTERNAL, 500, "ModelArts.0010")    \
    XX(EREADONLY, "token lacks the write role", PERMISSION_DENIED, 403,        \
       "ModelArts.0108")                                                       \
    XX(ECONFLICT, "conflicts with the stored service", FAILED_PRECONDITION,    \
       400, "ModelArts.0101")                                                  \
    XX(ELAGGING, "watcher fell behind", RESOURCE_EXHAUSTED, 429,               \
       "ModelArts.2799")                                                       \
    XX(EREPLACED, "service replaced; watch again", ABORTED, 409,               \
       "ModelArts.0101")

enum sl_err_code {
    SL_OK = 0,
#define SL__ERR_ENUM(name, msg, grpc, http, code) SL_##name,
    SL__ERR_FIRST = -100,
    SL_ERR_MAP(SL__ERR_ENUM) SL__ERR_END
#undef SL__ERR_ENUM
};

#define SL_ERR_MSG_LEN 256

/* A failure's code and detail. Owner: the caller (usually on its stack). */
struct sl_err {
    int code;                 /* SL_OK or an enum sl_err_code value */
    char msg[SL_ERR_MSG_LEN]; /* detail for humans; never holds secrets */
};

/* Sets err (when not NULL) and returns code, so `return sl_err_set(...)`. */
int sl_err_set(struct sl_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sl_err_setv(struct sl_err *err, int code, const char *fmt, va_list ap);
void sl_err_clear(struct sl_err *err);

const char *sl_err_name(int code);  /* "EINVAL"; "OK"; "UNKNOWN" */
const char *sl_strerror(int code);  /* the table's message */
int sl_err_to_grpc(int code);       /* a grpc_status_code value */
int sl_err_to_http(int code);       /* an HTTP status */
const char *sl_err_mcode(int code); /* "ModelArts.0101" */

/* The code whose ModelArts code is reason (when given and known), else the
 * one whose gRPC status is grpc_status: what the shim uses to turn an
 * upstream status back into an HTTP answer. */
int sl_err_from_grpc(int grpc_status, const char *reason);

#endif
