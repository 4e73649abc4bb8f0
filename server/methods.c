/* methods.c -- the handler table (one row per gRPC method) */
#include "methods.h"

extern const struct sl_handler sl_rpc_query_logs_handler;
extern const struct sl_handler sl_rpc_watch_logs_handler;
extern const struct sl_handler sl_rpc_put_service_handler;
extern const struct sl_handler sl_rpc_record_update_handler;
extern const struct sl_handler sl_rpc_health_check_handler;
extern const struct sl_handler sl_rpc_health_watch_handler;
extern const struct sl_handler sl_rpc_reflection_v1_handler;
extern const struct sl_handler sl_rpc_reflection_v1alpha_handler;
extern const struct sl_handler sl_rpc_unimplemented_handler;

const struct sl_handler *const sl_methods[] = {
    &sl_rpc_query_logs_handler,         /* modelarts.v1.ServiceLogs */
    &sl_rpc_watch_logs_handler,         /* " */
    &sl_rpc_put_service_handler,        /* modelarts.v1.ServiceLogWriter */
    &sl_rpc_record_update_handler,      /* " */
    &sl_rpc_health_check_handler,       /* grpc.health.v1.Health */
    &sl_rpc_health_watch_handler,       /* " */
    &sl_rpc_reflection_v1_handler,      /* grpc.reflection.v1 */
    &sl_rpc_reflection_v1alpha_handler, /* grpc.reflection.v1alpha */
    &sl_rpc_unimplemented_handler,      /* last: every unregistered method */
};

const size_t sl_methods_count = sizeof(sl_methods) / sizeof(sl_methods[0]);

_Static_assert(sizeof(sl_methods) / sizeof(sl_methods[0]) <= SL_METHODS_MAX,
               "raise SL_METHODS_MAX");

const char *sl_method_label(size_t i)
{
    if (i >= sl_methods_count || !sl_methods[i]->path)
        return "unknown";
    return sl_methods[i]->path;
}
