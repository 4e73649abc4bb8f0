/* slc_internal.h -- libslc internals shared by its files and unit tests
 *
 * Not installed, not API. Names are slc__*. Nothing here allocates except
 * where it says so; nothing here touches a network.
 */
#ifndef SLC_INTERNAL_H
#define SLC_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc_security.h>

#include "servicelogs/client.h"

#define SLC__METHOD "/modelarts.v1.ServiceLogs/QueryServiceLogs"
#define SLC__METHOD_WATCH "/modelarts.v1.ServiceLogs/WatchServiceLogs"
#define SLC__METHOD_PUT "/modelarts.v1.ServiceLogWriter/PutService"
#define SLC__METHOD_RECORD "/modelarts.v1.ServiceLogWriter/RecordServiceUpdate"
#define SLC__TOKEN_KEY "x-auth-token"
#define SLC__STATUS_DETAILS_KEY "grpc-status-details-bin"
#define SLC__ERRORINFO_URL "type.googleapis.com/google.rpc.ErrorInfo"
#define SLC__ERROR_DOMAIN "modelarts"

#ifndef SLC_VERSION
#define SLC_VERSION "unknown"
#endif

/* Sets every field of err (when not NULL): code, grpc_status, an empty
 * error_code, and the formatted message. Returns code. */
int slc__err_set(slc_error *err, int code, int grpc_status, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));

/* The SLC_E* code for a non-OK gRPC status; error_code is the ModelArts
 * code from ErrorInfo ("" when none). */
int slc__status_to_err(int grpc_status, const char *error_code);

/* Largest PEM file read for slc_options.tls_* (a CA bundle). */
#define SLC_TLS_MAX_FILE (1024 * 1024)

/* The channel credentials for o (creds.c): insecure when o->tls_ca is not
 * given, else SSL trusting the CA file, with tls_cert/tls_key as the
 * client certificate when given. Files are read and checked here (PEM
 * structure; see creds.c). On SLC_OK the caller owns *out
 * (grpc_channel_credentials_release); on failure *out is NULL and err
 * names the option and the file (SLC_EINVAL), or SLC_ENOMEM /
 * SLC_EINTERNAL. Call after grpc_init(). */
int slc__channel_creds(const slc_options *o, grpc_channel_credentials **out,
                       slc_error *err);

/* The client's max_logs option (slc_query's bound). */
size_t slc__client_max_logs(const slc_client *c);

/* Checks req (ids, update_time, token) and encodes the request message into
 * buf[0..cap); cap must be >= modelarts_v1_QueryServiceLogsRequest_size.
 * SLC_OK and *len set, or SLC_EINVAL naming the field. */
int slc__encode_request(const slc_request *req, uint8_t *buf, size_t cap,
                        size_t *len, slc_error *err);

/* True when s is 1-64 characters of [A-Za-z0-9_-]. */
bool slc__id_valid(const char *s);
/* True when s is 1-SLC_TOKEN_MAX printable ASCII characters. */
bool slc__token_valid(const char *s);

/* A borrowed slc_log view of the decoded log: pointers into the buffer. */
struct slc__log_view {
    slc_log log;
    slc_config config[SLC_MAX_CONFIGS];
    slc_env envs[SLC_MAX_CONFIGS][SLC_MAX_ENVS];
    slc_node nodes[SLC_MAX_NODES];
    slc_custom_spec specs[SLC_MAX_CONFIGS];
    const char *extend[SLC_MAX_EXTEND_CONFIG];
};

/* Where one log is decoded: the nanopb ServiceLog (its `config` field is
 * FT_CALLBACK, so the configs land in config[]) and the view handed to the
 * callback. About 170 KiB; owned by the client. */
struct slc__decode_buf {
    modelarts_v1_ServiceLog log;
    modelarts_v1_ServiceConfig config[SLC_MAX_CONFIGS];
    size_t n_config;
    struct slc__log_view view;
};

/* Decodes a QueryServiceLogsResponse held in bb, reading its slices in place
 * (no copy of the message). First pass: the head (service_id, service_name,
 * infer_type, n_logs), skipping the logs; second pass (only when on_log is
 * not NULL): each log into *buf, then on_log with its view. head is zeroed
 * on failure. Errors: SLC_EDECODE, SLC_ETOOLARGE (a bound), SLC_ECALLBACK. */
int slc__decode_response(grpc_byte_buffer *bb, struct slc__decode_buf *buf,
                         slc_head *head, slc_log_fn on_log, void *ctx,
                         slc_error *err);

/* Decodes one WatchServiceLogsResponse held in bb (slices read in place).
 * first: the message must hold the snapshot: *head is filled from it (as
 * slc__decode_response does) and its logs go to on_log (may be NULL).
 * Otherwise it must hold one log, handed to on_log with the unchanged
 * *head. Errors: SLC_EDECODE (also: no snapshot / no log where one is
 * due), SLC_ETOOLARGE (a bound), SLC_ECALLBACK. */
int slc__decode_watch(grpc_byte_buffer *bb, struct slc__decode_buf *buf,
                      bool first, slc_head *head, slc_log_fn on_log, void *ctx,
                      slc_error *err);

/* Reads the `created` bool of a PutServiceResponse or a
 * RecordServiceUpdateResponse (both: field 1) out of bb. SLC_OK or
 * SLC_EDECODE. */
int slc__decode_created(grpc_byte_buffer *bb, bool *created, slc_error *err);

/* Checks the arguments and encodes a PutServiceRequest into buf[0..cap)
 * (cap >= modelarts_v1_PutServiceRequest_size). SLC_OK and *len, or
 * SLC_EINVAL naming the argument. */
int slc__encode_put_service(const char *project_id, const char *service_id,
                            const char *service_name, int infer_type,
                            uint8_t *buf, size_t cap, size_t *len,
                            slc_error *err);

/* Checks log against the bounds (SLC_EINVAL naming the field, e.g.
 * "log.config[1].envs[0].value is over 1024 bytes") and encodes a
 * RecordServiceUpdateRequest into a new slice (*out, owned by the caller:
 * grpc_slice_unref). scratch holds the nanopb structs while encoding.
 * SLC_OK, SLC_EINVAL, or SLC_EINTERNAL. */
int slc__encode_record(const char *project_id, const char *service_id,
                       const slc_log *log, struct slc__decode_buf *scratch,
                       grpc_slice *out, slc_error *err);

/* slc_query()'s collector, in three steps so that tests can drive it
 * without a server: init allocates the result, collect_log (an slc_log_fn,
 * ctx = the collector) copies each log, finish hands the result over when
 * rc (the query's outcome) is SLC_OK and frees it otherwise. */
struct slc__result;
struct slc__collect {
    struct slc__result *r; /* owned until finish */
    size_t max_logs;
    int rc; /* why collect_log stopped: SLC_ETOOLARGE or SLC_ENOMEM */
};
int slc__collect_init(struct slc__collect *cl, size_t max_logs, slc_error *err);
int slc__collect_log(void *ctx, const slc_head *head, const slc_log *log);
/* Returns rc, turned into SLC_ETOOLARGE / SLC_ENOMEM when collect_log
 * stopped the query; on SLC_OK *out owns the result, else *out is NULL. */
int slc__collect_finish(struct slc__collect *cl, int rc, const slc_head *head,
                        slc_result **out, slc_error *err);

/* Reads the ErrorInfo reason (domain "modelarts") out of a serialized
 * google.rpc.Status (grpc-status-details-bin) into out[0..out_len); writes
 * "" when there is none. Never fails on hostile bytes. */
void slc__status_reason(const void *data, size_t len, char *out,
                        size_t out_len);

#endif
