/* json_out.h -- the documented JSON of a query, written to a FILE*
 *
 * Internal to libslc and the CLI (not installed). The bytes are those of the
 * REST shim for the same data (server/render_json.c follows the same rules):
 * compact, keys in the documented order, numbers as JSON numbers, RFC 8259
 * string escaping (\" \\ \n \r \t \b \f, other controls \u00XX, invalid
 * UTF-8 as U+FFFD per maximal subpart), one trailing newline. Presence
 * follows infer_type: weight and instance_count for real-time only;
 * success_num, failed_num and result_detail for edge only; the live
 * platform's fields only when set (cluster_id non-empty, extend_config
 * non-empty, custom_spec not NULL: its floats through sl_json_float, null
 * for NaN and infinities), after the documented keys. Enum values
 * without a documented spelling (UNSPECIFIED, newer values) print as
 * "UNKNOWN" (result) and "unknown" (operation).
 *
 * Nothing here allocates. Write errors are reported through ferror(f).
 */
#ifndef SLC_JSON_OUT_H
#define SLC_JSON_OUT_H

#include <stdbool.h>
#include <stdio.h>

#include "servicelogs/client.h"

/* Writes s as a JSON string, quotes included. */
void slc_json_string(FILE *f, const char *s);

/* {"service_id":..,"service_name":..,"logs":[ */
void slc_json_head(FILE *f, const slc_head *head);
/* One log object, preceded by "," unless first. Alone (first true) it is
 * the bytes of the server's sl_render_log_json: `servicelogs watch`
 * prints one per line. */
void slc_json_log(FILE *f, modelarts_v1_InferType infer_type,
                  const slc_log *log, bool first);
/* ]}\n */
void slc_json_tail(FILE *f);

/* The whole document of a collected result. 0, or -1 on a write error. */
int slc_json_result(FILE *f, const slc_result *r);

/* Streaming: pass slc_json_stream_log as slc_query_each's on_log with a
 * struct slc_json_stream as ctx; each log is printed as it is decoded.
 * After the query succeeded, slc_json_stream_end() completes the document.
 * Nothing is kept between logs. */
struct slc_json_stream {
    FILE *f;
    size_t n;        /* logs printed */
    int write_errno; /* errno when a write error was first seen, else 0 */
};

void slc_json_stream_init(struct slc_json_stream *js, FILE *f);
/* An slc_log_fn: prints the head before the first log. Returns non-zero
 * (stop) once f has a write error. */
int slc_json_stream_log(void *ctx, const slc_head *head, const slc_log *log);
/* Prints the head when no log was printed, then the tail, and flushes f.
 * 0, or -1 when f has a write error (js->write_errno says which). */
int slc_json_stream_end(struct slc_json_stream *js, const slc_head *head);

#endif
