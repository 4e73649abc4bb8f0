/* error.c -- SL_ERR_MAP expanded into lookup functions */
#include "error.h"

#include <grpc/status.h>
#include <stdio.h>
#include <string.h>

struct sl_err_row {
    int code;
    const char *name;
    const char *msg;
    grpc_status_code grpc;
    int http;
    const char *mcode;
};

static const struct sl_err_row sl_err_rows[] = {
#define SL__ERR_ROW(name, msg, grpc, http, code)                               \
    {SL_##name, #name, msg, GRPC_STATUS_##grpc, http, code},
    SL_ERR_MAP(SL__ERR_ROW)
#undef SL__ERR_ROW
};

#define SL_ERR_NROWS (sizeof(sl_err_rows) / sizeof(sl_err_rows[0]))

static const struct sl_err_row *row_of(int code)
{
    for (size_t i = 0; i < SL_ERR_NROWS; i++)
        if (sl_err_rows[i].code == code)
            return &sl_err_rows[i];
    return NULL;
}

int sl_err_setv(struct sl_err *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int sl_err_set(struct sl_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sl_err_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void sl_err_clear(struct sl_err *err)
{
    if (err) {
        err->code = SL_OK;
        err->msg[0] = '\0';
    }
}

const char *sl_err_name(int code)
{
    const struct sl_err_row *r = row_of(code);
    return code == SL_OK ? "OK" : r ? r->name : "UNKNOWN";
}

const char *sl_strerror(int code)
{
    const struct sl_err_row *r = row_of(code);
    return code == SL_OK ? "ok" : r ? r->msg : "unknown error";
}

int sl_err_to_grpc(int code)
{
    const struct sl_err_row *r = row_of(code);
    return code == SL_OK ? GRPC_STATUS_OK : r ? r->grpc : GRPC_STATUS_INTERNAL;
}

int sl_err_to_http(int code)
{
    const struct sl_err_row *r = row_of(code);
    return code == SL_OK ? 200 : r ? r->http : 500;
}

const char *sl_err_mcode(int code)
{
    const struct sl_err_row *r = row_of(code);
    return r ? r->mcode : "ModelArts.0010";
}

int sl_err_from_grpc(int grpc_status, const char *reason)
{
    if (reason && *reason) {
        /* Several rows share a ModelArts code (0010); the gRPC status then
         * picks among them. */
        const struct sl_err_row *first = NULL;
        for (size_t i = 0; i < SL_ERR_NROWS; i++) {
            const struct sl_err_row *r = &sl_err_rows[i];
            if (strcmp(r->mcode, reason) != 0)
                continue;
            if ((int)r->grpc == grpc_status)
                return r->code;
            if (!first)
                first = r;
        }
        if (first)
            return first->code;
    }
    switch (grpc_status) {
    case GRPC_STATUS_OK:
        return SL_OK;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_OUT_OF_RANGE:
        return SL_EINVAL;
    case GRPC_STATUS_FAILED_PRECONDITION:
        return SL_EBATCH;
    case GRPC_STATUS_UNAUTHENTICATED:
        return SL_EBADTOKEN;
    case GRPC_STATUS_PERMISSION_DENIED:
        return SL_EFORBIDDEN;
    case GRPC_STATUS_NOT_FOUND:
        return SL_ENOTFOUND;
    case GRPC_STATUS_UNIMPLEMENTED:
        return SL_ENOROUTE;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return SL_EOVERLOAD;
    case GRPC_STATUS_UNAVAILABLE:
        return SL_EUNAVAIL;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return SL_ETIMEOUT;
    default:
        return SL_EINTERNAL;
    }
}
