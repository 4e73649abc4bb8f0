/* status.c -- google.rpc.Status error details for gRPC trailers */
#include "status.h"

#include <stdio.h>
#include <string.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#define SL_ERRORINFO_URL "type.googleapis.com/google.rpc.ErrorInfo"

int sl_status_details_pack(int err_code, const char *message, grpc_slice *out)
{
    Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
    info.reason = (char *)sl_err_mcode(err_code);
    info.domain = SL_ERROR_DOMAIN;
    uint8_t info_buf[128];
    size_t info_len = google__rpc__error_info__get_packed_size(&info);
    if (info_len > sizeof(info_buf)) {
        *out = grpc_empty_slice();
        return SL_ENOMEM;
    }
    google__rpc__error_info__pack(&info, info_buf);

    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = SL_ERRORINFO_URL;
    any.value.data = info_buf;
    any.value.len = info_len;
    Google__Protobuf__Any *details[1] = {&any};

    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = sl_err_to_grpc(err_code);
    st.message = (char *)(message ? message : sl_strerror(err_code));
    st.n_details = 1;
    st.details = details;
    size_t len = google__rpc__status__get_packed_size(&st);
    *out = grpc_slice_malloc(len);
    google__rpc__status__pack(&st, GRPC_SLICE_START_PTR(*out));
    return SL_OK;
}

void sl_status_details_reason(const void *data, size_t len, char *reason,
                              size_t reason_len, char *message,
                              size_t message_len)
{
    if (reason_len)
        reason[0] = '\0';
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, len, data);
    if (!st)
        return;
    if (message_len && !message[0] && st->message)
        snprintf(message, message_len, "%s", st->message);
    for (size_t i = 0; i < st->n_details; i++) {
        const Google__Protobuf__Any *any = st->details[i];
        const char *url = any->type_url ? any->type_url : "";
        const char *slash = strrchr(url, '/');
        if (strcmp(slash ? slash + 1 : url, "google.rpc.ErrorInfo") != 0)
            continue;
        Google__Rpc__ErrorInfo *info = google__rpc__error_info__unpack(
            NULL, any->value.len, any->value.data);
        if (info) {
            if (reason_len && info->reason)
                snprintf(reason, reason_len, "%s", info->reason);
            google__rpc__error_info__free_unpacked(info, NULL);
        }
        break;
    }
    google__rpc__status__free_unpacked(st, NULL);
}
