/* render_json.h -- the REST body of QueryServiceLogs, written by hand
 *
 * The shim's hot path: one pass over the protobuf-c response into a
 * growable buffer, no JSON library, no intermediate tree.
 *
 * Output (DESIGN section 3, spec "Response (200)"): compact JSON, no
 * whitespace between tokens, followed by one "\n". Keys in the spec's
 * table order. Numbers are JSON numbers. Field presence follows
 * r->infer_type:
 *   REAL_TIME  config[].weight and config[].instance_count (0 is printed)
 *   EDGE       logs[].success_num, logs[].failed_num, logs[].result_detail
 *              ([] when empty)
 *   other      (UNSPECIFIED, BATCH, a value newer than this build) neither
 * config[].specification and config[].envs (an object, in stored order)
 * are always present; infer_type itself is never in the body.
 *
 * The live platform's fields (DESIGN 2b) appear only when set, after the
 * documented keys of their object, so a document without them is
 * byte-identical to the spec's:
 *   logs[].cluster_id         when non-empty        (after result_detail,
 *   logs[].extend_config      when non-empty: [str]  or after config)
 *   config[].custom_spec      when present: {"gpu_p4":F,"memory":I,
 *                             "cpu":F,"ascend_a310":I}, all four always
 *   config[].cluster_id       when non-empty         (after custom_spec)
 * F is the shortest text that reads back as the same float (0.5, 1,
 * 0.1); NaN and infinities, which JSON cannot spell, print as null
 * (common/json.h, sl_json_float).
 *
 * Enum values this build does not know (a newer server) render as
 * "UNKNOWN" for logs[].result and "unknown" for result_detail[].operation
 * (the spelling follows each field's documented case); the *_UNSPECIFIED
 * value (0) renders the same way.
 *
 * Strings are escaped by the project's one JSON escaper (common/json.h,
 * through sl_buf_put_json_string): the output is always valid UTF-8 and
 * valid JSON, and the access log and the client write strings the same
 * way.
 *
 * THREAD SAFETY: the functions are reentrant; they read r and write out.
 */
#ifndef SL_RENDER_JSON_H
#define SL_RENDER_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "modelarts/v1/service_logs.pb-c.h"

/* Appends the JSON body for r (and a final "\n") to out. r is only read;
 * NULL strings in r are rendered as "". Returns SL_OK, or SL_ENOMEM when
 * out ran out of memory (out->oom is set; its contents are then
 * incomplete and the caller releases it with sl_buf_free()). */
int sl_render_logs_json(const Modelarts__V1__QueryServiceLogsResponse *r,
                        struct sl_buf *out);

/* Appends ONE log object, in the shape it has inside logs[] of the body
 * above (presence by infer_type, a Modelarts__V1__InferType value), with
 * no trailing newline: the REST watch's "event: log" data line. log is
 * only read. Returns SL_OK, or SL_ENOMEM (out->oom set, as above). */
int sl_render_log_json(const Modelarts__V1__ServiceLog *log, int infer_type,
                       struct sl_buf *out);

/* Streaming (big answers): the same body as sl_render_logs_json, rendered
 * a few logs at a time from the packed QueryServiceLogsResponse, so that
 * an answer of 50 000 logs costs its packed bytes and one chunk, not the
 * protobuf-c tree and the whole JSON. The packed message is read as
 * protobuf-c reads it (singular fields: the last occurrence wins; unknown
 * fields skipped); each log is unpacked alone, rendered, freed. The bytes
 * are byte-identical to sl_render_logs_json of the unpacked message
 * (unit/test_render_json checks it). */
struct sl_json_stream;

/* Opens a stream over packed[0..len), which must outlive it. SL_OK, or
 * SL_ECORRUPT when the bytes are not a QueryServiceLogsResponse, or
 * SL_ENOMEM. */
int sl_json_stream_open(const uint8_t *packed, size_t len,
                        struct sl_json_stream **out);

/* Appends the next part of the body to out: the head, then whole logs
 * until at least want bytes were appended (want >= 1: every call makes
 * progress), then the tail. *done once the tail is out. SL_OK, SL_ECORRUPT (a
 * log protobuf-c cannot unpack), or SL_ENOMEM (out->oom). */
int sl_json_stream_next(struct sl_json_stream *s, struct sl_buf *out,
                        size_t want, bool *done);

/* Frees s; accepts NULL. */
void sl_json_stream_free(struct sl_json_stream *s);

/* The whole body of packed[0..len) at once (sl_json_stream_next with no
 * limit): what the shim renders from an upstream's answer. SL_OK,
 * SL_ECORRUPT or SL_ENOMEM. */
int sl_render_packed_json(const uint8_t *packed, size_t len,
                          struct sl_buf *out);

/* Appends {"error_code":"<sl_err_mcode(sl_code)>","error_msg":"<msg>"} and
 * "\n" to out. msg NULL or empty: sl_strerror(sl_code). The caller checks
 * out->oom. */
void sl_render_error_json(int sl_code, const char *msg, struct sl_buf *out);

#endif
