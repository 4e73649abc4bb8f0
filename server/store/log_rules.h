/* log_rules.h -- the rules of a service log, for import and the writers
 *
 * A log reaches the store two ways: from the import document (import.c)
 * and from a RecordServiceUpdate call (rpc_record_update.c). Both build a
 * decoded modelarts.v1.ServiceLog and hold it to the rules here, then pack
 * it here, so the same log is accepted or refused the same way and stored
 * as the same bytes whichever way it came.
 *
 * The rules (server/limits.h has the numbers):
 *   - result is SUCCESS, FAIL or RUNNING; update_time is not negative;
 *   - presence by the service's infer_type: weight and instance_count only
 *     for real-time services, success_num, failed_num and result_detail
 *     only for edge ones. The decoded form cannot tell absent from 0, so
 *     here a field is present when it is not 0 (not empty); import also
 *     refuses a present key of the wrong kind, even "weight": 0;
 *   - numbers are not negative, weight at most SL_MAX_WEIGHT, custom_spec's
 *     floats finite;
 *   - strings are UTF-8 and within their bounds (ids 1-SL_MAX_ID bytes,
 *     names 1-SL_MAX_NAME, ...), counts within theirs, env names unique.
 * Every message starts with the path of the bad value below the caller's
 * prefix, then ": ", then the rule, e.g.
 *   log.config[1].weight: only allowed for real-time services (this
 *   service is edge)
 *
 * The packed form is canonical: protobuf-c's packing (fields in number
 * order, defaults omitted) of the log with its envs sorted by name and
 * without unknown fields -- a function of the log's values alone.
 *
 * THREAD SAFETY: no state; reentrant.
 */
#ifndef SL_LOG_RULES_H
#define SL_LOG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "error.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"

/* Holds log, a log of a service of infer_type (REAL_TIME, EDGE or BATCH:
 * the latter has neither kind's fields), to the rules above. SL_OK,
 * or code (SL_EFORMAT for import, SL_EINVAL for a request) with err's
 * message starting "<prefix>.<field path>: " ("<prefix>: " for the log
 * itself). log and prefix are the caller's and only read. */
int sl_log_check(const Modelarts__V1__ServiceLog *log, int infer_type,
                 const char *prefix, int code, struct sl_err *err);

/* Packs log canonically (see above) into out: out->body points into out_a,
 * out->update_time is the log's. scratch holds the canonical copy's
 * structs (pointers into log's strings); the caller may empty it as soon
 * as this returns. SL_OK or SL_ENOMEM (out is then zeroed). Call it on a
 * log that passed sl_log_check. */
int sl_log_pack(const Modelarts__V1__ServiceLog *log, struct sl_arena *scratch,
                struct sl_arena *out_a, struct sl_import_log *out,
                struct sl_err *err);

/* Checks the strings of a message before protobuf-c unpacks it (it stops a
 * C string at a NUL byte, and checks no UTF-8): every string field of
 * msg[0..len), a packed message of type d, and of the messages it nests,
 * must be UTF-8 without a NUL byte. SL_OK, or code with err naming the
 * field by its path from the message ("log.config[1].model_name: contains
 * a NUL byte"); bytes that are not a message at all are left for
 * protobuf-c's unpack to refuse (SL_OK here). */
int sl_pb_check_strings(const ProtobufCMessageDescriptor *d, const uint8_t *msg,
                        size_t len, int code, struct sl_err *err);

#endif
