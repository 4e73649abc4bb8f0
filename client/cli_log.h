/* cli_log.h -- `servicelogs record`: one documented log object, from JSON
 *
 * The CLI's alone (libslc never parses JSON): the object has the shape of
 * a logs[] entry of the query answer and of an import file (DESIGN 2b),
 * the live platform's fields included:
 *   {"update_time":N, "result":"SUCCESS|FAIL|RUNNING",
 *    "config":[{"model_id":S, "model_name":S, "model_version":S,
 *               "weight":N, "specification":S, "instance_count":N,
 *               "envs":{S:S,...},
 *               "custom_spec":{"gpu_p4":F,"memory":N,"cpu":F,
 *                              "ascend_a310":N},
 *               "cluster_id":S}, ...],
 *    "success_num":N, "failed_num":N,
 *    "result_detail":[{"node_id":S, "node_name":S,
 *                      "operation":"deploy|delete", "result":B}, ...],
 *    "cluster_id":S, "extend_config":[S, ...]}
 * update_time (> 0) and result are required; every other member is
 * optional (absent: 0, "", empty). Unknown members, wrong types, numbers
 * out of their int32 range and lists over the client's bounds are
 * refused here with the member's path; the server checks the rest
 * (presence by infer_type, lengths, weights).
 */
#ifndef SLC_CLI_LOG_H
#define SLC_CLI_LOG_H

#include <stddef.h>

#include "servicelogs/client.h"

/* A parsed log: log points into the arrays here and into the JSON tree's
 * strings. Owner: the caller (one is about 20 KiB: keep it off the stack
 * or mind it); cli_log_free() releases the tree. */
struct cli_log {
    slc_log log;
    slc_config config[SLC_MAX_CONFIGS];
    slc_env envs[SLC_MAX_CONFIGS][SLC_MAX_ENVS];
    slc_custom_spec specs[SLC_MAX_CONFIGS];
    slc_node nodes[SLC_MAX_NODES];
    const char *extend[SLC_MAX_EXTEND_CONFIG];
    void *root; /* the jansson tree (json_t *) */
};

/* Parses text[0..len) into *out. 0, or -1 with a message in msg
 * ("log.config[0].weight: not an integer"); *out needs cli_log_free()
 * either way. */
int cli_log_parse(const char *text, size_t len, struct cli_log *out, char *msg,
                  size_t msg_len);

void cli_log_free(struct cli_log *l);

#endif
