/* names.h -- the documented spellings of the API's enums, both ways
 *
 * The import file and the REST response spell enum values as the API
 * document does (docs/spec.md): infer_type "real-time",
 * "edge", "batch"; result "SUCCESS", "FAIL", "RUNNING"; operation
 * "deploy", "delete". One table per enum, read by the import (name ->
 * value), the REST renderer and the client's JSON output (value -> name).
 * Values are the proto's numbers (proto/modelarts/v1/service_logs.proto),
 * which the wire contract fixes; users compare them with their generated
 * enums in _Static_asserts. A leaf: depends on nothing but libc.
 */
#ifndef SL_NAMES_H
#define SL_NAMES_H

#include <stddef.h>

/* A spelling and the enum value it stands for. */
struct sl_name {
    const char *name;
    int value;
};

/* The proto's numbers (plain ints: comparable with any generated enum). */
#define SL_INFER_REAL_TIME 1
#define SL_INFER_EDGE 2
#define SL_INFER_BATCH 3
#define SL_RESULT_SUCCESS 1
#define SL_RESULT_FAIL 2
#define SL_RESULT_RUNNING 3
#define SL_OPERATION_DEPLOY 1
#define SL_OPERATION_DELETE 2

/* Each table ends with {NULL, 0}. */
extern const struct sl_name sl_infer_type_names[];
extern const struct sl_name sl_update_result_names[];
extern const struct sl_name sl_node_operation_names[];

/* gRPC status codes 0..16 (grpc_status_code) by their canonical names. */
#define SL_GRPC_CODES 17

/* "OK", "NOT_FOUND", ... for a gRPC status code 0..16; "UNKNOWN" for
 * anything else. Static storage. */
const char *sl_grpc_code_name(int code);

/* The spelling of value in t, or fallback when t has none (an
 * UNSPECIFIED value, or one newer than this build). */
const char *sl_name_of(const struct sl_name *t, int value,
                       const char *fallback);

/* The value spelled name[0..len) in t (exact, case-sensitive): 0 with
 * *value set, or -1. */
int sl_name_value(const struct sl_name *t, const char *name, size_t len,
                  int *value);

#endif
