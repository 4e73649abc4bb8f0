/* limits.h -- the service's data limits, in one place
 *
 * Import and the writers enforce them (log_rules.c), so every stored
 * service can be read by the nanopb client, whose bounds
 * (proto/modelarts/v1/service_logs.options) are these numbers plus one byte
 * for the NUL, and max_count the counts. Change both together;
 * unit/test_log_rules.c reads the options file and checks that they agree.
 */
#ifndef SL_LIMITS_H
#define SL_LIMITS_H

#define SL_MAX_ID 64          /* project_id, service_id, model_id, node_id */
#define SL_MAX_NAME 128       /* service_name, model_name, node_name, spec */
#define SL_MAX_VERSION 64     /* model_version */
#define SL_MAX_ENV_KEY 128    /* envs key (bytes) */
#define SL_MAX_ENV_VALUE 1024 /* envs value (bytes) */
#define SL_MAX_ENVS 16        /* envs per config */
#define SL_MAX_CONFIGS 8      /* config entries per log */
#define SL_MAX_NODES 64       /* result_detail entries per log */
#define SL_MAX_WEIGHT 100     /* weight is a percentage of traffic */
#define SL_MAX_CLUSTER_ID 64  /* cluster_id of a log or a config (bytes) */
#define SL_MAX_EXTEND 8       /* extend_config entries per log */
#define SL_MAX_EXTEND_LEN 256 /* one extend_config entry (bytes) */

#endif
