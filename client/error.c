/* error.c -- libslc error names, messages and gRPC status mapping */
#include <stdio.h>
#include <string.h>

#include <grpc/status.h>

#include "slc_internal.h"

const char *slc_err_name(int code)
{
    switch (code) {
    case SLC_OK:
        return "OK";
#define SLC__ERR_NAME(name, msg)                                               \
    case SLC_##name:                                                           \
        return #name;
        SLC_ERR_MAP(SLC__ERR_NAME)
#undef SLC__ERR_NAME
    default:
        return "UNKNOWN";
    }
}

const char *slc_strerror(int code)
{
    switch (code) {
    case SLC_OK:
        return "success";
#define SLC__ERR_MSG(name, msg)                                                \
    case SLC_##name:                                                           \
        return msg;
        SLC_ERR_MAP(SLC__ERR_MSG)
#undef SLC__ERR_MSG
    default:
        return "unknown error";
    }
}

int slc__err_set(slc_error *err, int code, int grpc_status, const char *fmt,
                 ...)
{
    if (!err)
        return code;
    err->code = code;
    err->grpc_status = grpc_status;
    err->error_code[0] = '\0';
    err->message[0] = '\0';
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

int slc__status_to_err(int grpc_status, const char *error_code)
{
    switch (grpc_status) {
    case GRPC_STATUS_OK:
        return SLC_OK;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return SLC_EUNAVAILABLE;
    case GRPC_STATUS_NOT_FOUND:
        return SLC_ENOTFOUND;
    case GRPC_STATUS_UNAUTHENTICATED:
    case GRPC_STATUS_PERMISSION_DENIED:
        return SLC_EAUTH;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        /* The server's overload answer carries ErrorInfo (ModelArts.2799);
         * the client's own receive limit ("Received message larger than
         * max") is raised locally and carries none. */
        return (error_code && error_code[0]) ? SLC_ESERVER : SLC_ETOOLARGE;
    default:
        return SLC_ESERVER;
    }
}
