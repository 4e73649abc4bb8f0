/* names.c -- the documented spellings of the API's enums (names.h) */
#include "names.h"

#include <string.h>

const struct sl_name sl_infer_type_names[] = {
    {"real-time", SL_INFER_REAL_TIME},
    {"edge", SL_INFER_EDGE},
    {"batch", SL_INFER_BATCH},
    {NULL, 0},
};

const struct sl_name sl_update_result_names[] = {
    {"SUCCESS", SL_RESULT_SUCCESS},
    {"FAIL", SL_RESULT_FAIL},
    {"RUNNING", SL_RESULT_RUNNING},
    {NULL, 0},
};

const struct sl_name sl_node_operation_names[] = {
    {"deploy", SL_OPERATION_DEPLOY},
    {"delete", SL_OPERATION_DELETE},
    {NULL, 0},
};

static const char *const grpc_code_names[SL_GRPC_CODES] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *sl_grpc_code_name(int code)
{
    return code >= 0 && code < SL_GRPC_CODES ? grpc_code_names[code]
                                             : "UNKNOWN";
}

const char *sl_name_of(const struct sl_name *t, int value, const char *fallback)
{
    for (; t->name; t++)
        if (t->value == value)
            return t->name;
    return fallback;
}

int sl_name_value(const struct sl_name *t, const char *name, size_t len,
                  int *value)
{
    for (; t->name; t++) {
        if (strlen(t->name) == len && memcmp(t->name, name, len) == 0) {
            *value = t->value;
            return 0;
        }
    }
    return -1;
}
