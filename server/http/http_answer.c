/* http_answer.c -- the REST shim's responses and answers (http_answer.h)
 *
 * Ownership: a response body's memory moves to libmicrohttpd
 * (MHD_RESPMEM_MUST_FREE) once its response exists; the protobuf-c
 * answer of the upstream is freed as soon as it is rendered. A gzip body
 * (http_web.h) replaces the plain one, which is freed at once. A streamed
 * answer's state (the packed answer, one chunk, zlib's) is libmicrohttpd's
 * until it frees the response (stream_free).
 */
#include "http_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "http_assets.h"
#include "log.h"
#include "render_json.h"

#define SL_HTTP_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The body of any answer when rendering the real one ran out of memory. */
static const char sl_oom_body[] =
    "{\"error_code\":\"ModelArts.0010\",\"error_msg\":\"out of memory\"}\n";

/* Whether rq's answer closes its connection: a request refused for its
 * framing (nothing after it on the connection may be read), or any answer
 * once the shim is stopping. */
bool sl_http_must_close(const struct sl_req *rq)
{
    return rq->close || atomic_load(rq->stopping) != 0;
}

static enum MHD_Result web_answer(struct MHD_Connection *conn,
                                  struct sl_req *rq, struct sl_buf *body,
                                  const char *type, const uint64_t *hash);

/* The reader of a 304: libmicrohttpd sends no body for one. */
static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_OF_STREAM;
}

/* Queues body (its memory moves to libmicrohttpd; *body is left empty)
 * with content_type, X-Request-Id, Allow when allow is set and
 * Connection: close when must_close(); notes status and error_code
 * (static, NULL on success) in rq for the access line. */
enum MHD_Result sl_http_respond(struct MHD_Connection *conn, struct sl_req *rq,
                                unsigned int status, struct sl_buf *body,
                                const char *content_type, bool allow,
                                const char *error_code)
{
    struct MHD_Response *r;

    if (status == MHD_HTTP_NOT_MODIFIED && !body->oom) {
        /* No body, but the Content-Length libmicrohttpd sends must be the
         * 200's (RFC 9110 8.6): a size, a reader it never calls. */
        r = MHD_create_response_from_callback(body->len, 1024, no_body, NULL,
                                              NULL);
        sl_buf_free(body);
    } else if (status == MHD_HTTP_NO_CONTENT && !body->oom) {
        sl_buf_free(body);
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    } else if (body->oom || !body->data) {
        sl_buf_free(body);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        content_type = SL_HTTP_JSON_TYPE;
        allow = false;
        error_code = sl_err_mcode(SL_ENOMEM);
        r = MHD_create_response_from_buffer(sizeof(sl_oom_body) - 1,
                                            (void *)sl_oom_body,
                                            MHD_RESPMEM_PERSISTENT);
    } else {
        r = MHD_create_response_from_buffer(body->len, body->data,
                                            MHD_RESPMEM_MUST_FREE);
        if (!r)
            sl_buf_free(body);
        else
            sl_buf_init(body); /* the memory is MHD's now */
    }
    return sl_http_queue(conn, rq, status, r, content_type, allow, error_code);
}

enum MHD_Result sl_http_queue(struct MHD_Connection *conn, struct sl_req *rq,
                              unsigned int status, struct MHD_Response *r,
                              const char *content_type, bool allow,
                              const char *error_code)
{
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if ((!content_type ||
         MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                 content_type) == MHD_YES) &&
        sl_http_web_headers(r, conn, rq, rq->preflight) == MHD_YES &&
        MHD_add_response_header(r, "X-Request-Id", rq->request_id) == MHD_YES &&
        (!allow || MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                           "GET, HEAD") == MHD_YES) &&
        (!sl_http_must_close(rq) ||
         MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") ==
             MHD_YES))
        ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    if (ret == MHD_YES) {
        rq->status = (int)status;
        rq->error_code = error_code;
    }
    return ret;
}

/* The JSON error body of code (msg NULL: the table's message) with an
 * HTTP status of its own: the HTTP-only refusals (413, 414). */
enum MHD_Result sl_http_respond_status(struct MHD_Connection *conn,
                                       struct sl_req *rq, unsigned int status,
                                       int code, const char *msg)
{
    struct sl_buf b;
    sl_buf_init(&b);
    sl_render_error_json(code, msg, &b);
    return sl_http_respond(conn, rq, status, &b, SL_HTTP_JSON_TYPE,
                           code == SL_EMETHOD, sl_err_mcode(code));
}

/* The JSON error body of code with the HTTP status of its SL_ERR_MAP row. */
enum MHD_Result sl_http_respond_error(struct MHD_Connection *conn,
                                      struct sl_req *rq, int code,
                                      const char *msg)
{
    return sl_http_respond_status(conn, rq, (unsigned int)sl_err_to_http(code),
                                  code, msg);
}

/* Printable ASCII only: what gRPC accepts in a non-binary metadata value. */
static bool md_value_ok(const char *v, size_t max)
{
    size_t i = 0;
    for (; v[i]; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7E ||
            i >= max)
            return false;
    return i > 0;
}

int sl_http_req_token(struct MHD_Connection *conn, struct sl_req *rq,
                      size_t max_token, const struct sl_route *rt,
                      const char **token, struct sl_err *err)
{
    const char *t =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Auth-Token");

    *token = NULL;
    memcpy(rq->project_id, rt->project_id, rt->project_len);
    rq->project_id[rt->project_len] = '\0';
    memcpy(rq->service_id, rt->service_id, rt->service_len);
    rq->service_id[rt->service_len] = '\0';
    if (!t || !*t)
        return SL_OK; /* an empty header is no token */
    if (strlen(t) > max_token)
        return sl_err_set(err, SL_EBADTOKEN,
                          "X-Auth-Token is longer than any valid token");
    if (!md_value_ok(t, max_token))
        return sl_err_set(err, SL_EBADTOKEN,
                          "X-Auth-Token holds characters no token has");
    *token = t;
    return SL_OK;
}

enum MHD_Result
sl_http_answer_query(struct MHD_Connection *conn, struct sl_req *rq,
                     struct sl_http_upstream *u, struct sl_http_local *local,
                     size_t max_token, const struct sl_route *rt)
{
    struct sl_err err;
    const char *token = NULL;
    grpc_slice packed = grpc_empty_slice();

    sl_err_clear(&err);
    int rc = sl_http_req_token(conn, rq, max_token, rt, &token, &err);
    if (rc != SL_OK)
        return sl_http_respond_error(conn, rq, rc, err.msg);
    struct sl_buf body;
    sl_buf_init(&body);
    uint64_t hash;
    bool hashed = false;
    if (local) /* the JSON directly (the cache may hold it), or big */
        rc = sl_http_local_query_json(local, rt, token, &body, &hash, &hashed,
                                      &packed, &err);
    else
        rc =
            sl_http_upstream_query(u, rt, token, rq->request_id, &packed, &err);
    if (rc != SL_OK && !body.oom) { /* the query's: its text */
        sl_buf_free(&body);
        return sl_http_respond_error(conn, rq, rc, err.msg);
    }
    if (GRPC_SLICE_LENGTH(packed) >= SL_HTTP_STREAM_MIN) {
        sl_buf_free(&body);
        return sl_http_stream_answer(conn, rq, packed);
    }
    if (rc == SL_OK && !local) {
        rc = sl_render_packed_json(GRPC_SLICE_START_PTR(packed),
                                   GRPC_SLICE_LENGTH(packed), &body);
        if (rc == SL_ECORRUPT) {
            grpc_slice_unref(packed);
            sl_buf_free(&body);
            return sl_http_respond_error(
                conn, rq, SL_EINTERNAL,
                "the query service sent a malformed answer");
        }
    }
    grpc_slice_unref(packed);
    if (rc != SL_OK) {
        sl_buf_free(&body);
        return sl_http_respond_error(conn, rq, rc, NULL);
    }
    return web_answer(conn, rq, &body, SL_HTTP_JSON_TYPE,
                      hashed ? &hash : NULL);
}

/* GET /healthz: the overall health (service ""): the server's status
 * in-process, else the upstream's Health/Check. */
enum MHD_Result sl_http_answer_health(struct MHD_Connection *conn,
                                      struct sl_req *rq,
                                      struct sl_http_upstream *u,
                                      struct sl_http_local *local)
{
    struct sl_err err;
    Grpc__Health__V1__HealthCheckResponse__ServingStatus st;
    const char *name = "NOT_SERVING";
    const char *error_code = NULL;
    unsigned int status = MHD_HTTP_SERVICE_UNAVAILABLE;

    sl_err_clear(&err);
    int rc = SL_OK;
    if (local) /* enum sl_serving has the protocol's numbers */
        st = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)
            sl_http_local_health(local);
    else
        rc = sl_http_upstream_health(u, rq->request_id, &st, &err);
    if (rc == SL_OK) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor,
            (int)st);
        name = v ? v->name : "UNKNOWN";
        if (st ==
            GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
            status = MHD_HTTP_OK;
    } else {
        error_code = sl_err_mcode(rc);
        sl_log(SL_LOG_DEBUG, "shim: /healthz: %s", err.msg);
    }

    struct sl_buf body;
    sl_buf_init(&body);
    sl_buf_puts(&body, "{\"status\":\"");
    sl_buf_puts(&body, name);
    sl_buf_puts(&body, "\"}\n");
    return sl_http_respond(conn, rq, status, &body, SL_HTTP_JSON_TYPE, false,
                           error_code);
}

/* GET /metrics: the process's Prometheus text. */
enum MHD_Result sl_http_answer_metrics(struct MHD_Connection *conn,
                                       struct sl_req *rq)
{
    struct sl_buf body;
    sl_buf_init(&body);
    sl_metrics_render(&body);
    return sl_http_respond(conn, rq, MHD_HTTP_OK, &body, SL_HTTP_METRICS_TYPE,
                           false, NULL);
}

/* ---- http_web.h's headers and answers
 * ----------------------------------------------------------- */

static bool logs_path(const struct sl_req *rq)
{
    return rq->route == SL_HTTP_ROUTE_LOGS || rq->route == SL_HTTP_ROUTE_WATCH;
}

/* The paths whose answers carry the web headers: the logs paths and the
 * static files. */
static bool web_path(const struct sl_req *rq)
{
    return logs_path(rq) || rq->route == SL_HTTP_ROUTE_ASSET;
}

static enum MHD_Result add(struct MHD_Response *r, const char *name,
                           const char *value)
{
    return MHD_add_response_header(r, name, value);
}

enum MHD_Result sl_http_web_headers(struct MHD_Response *r,
                                    struct MHD_Connection *conn,
                                    const struct sl_req *rq, bool preflight)
{
    if (!web_path(rq))
        return MHD_YES;
    if (rq->route == SL_HTTP_ROUTE_ASSET &&
        (add(r, "X-Content-Type-Options", "nosniff") != MHD_YES ||
         add(r, "Content-Security-Policy", SL_HTTP_ASSET_CSP) != MHD_YES))
        return MHD_NO;
    bool cors = sl_http_cors_on(rq->cors);
    const char *vary = NULL;
    if (rq->route != SL_HTTP_ROUTE_WATCH)
        vary = cors && !rq->cors->any ? "Origin, Accept-Encoding"
                                      : "Accept-Encoding";
    else if (cors && !rq->cors->any)
        vary = "Origin";
    if (vary && add(r, MHD_HTTP_HEADER_VARY, vary) != MHD_YES)
        return MHD_NO;
    if (rq->etag[0] && add(r, MHD_HTTP_HEADER_ETAG, rq->etag) != MHD_YES)
        return MHD_NO;
    if (rq->gzip && add(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip") != MHD_YES)
        return MHD_NO;
    const char *allow = sl_http_cors_allow(
        rq->cors, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                              MHD_HTTP_HEADER_ORIGIN));
    if (!allow)
        return MHD_YES;
    if (add(r, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, allow) != MHD_YES ||
        add(r, "Access-Control-Expose-Headers", "X-Request-Id, ETag") !=
            MHD_YES)
        return MHD_NO;
    if (preflight &&
        (add(r, "Access-Control-Allow-Methods", "GET, HEAD") != MHD_YES ||
         add(r, "Access-Control-Allow-Headers",
             "X-Auth-Token, X-Request-Id, If-None-Match") != MHD_YES ||
         add(r, "Access-Control-Max-Age", SL_HTTP_CORS_MAX_AGE) != MHD_YES))
        return MHD_NO;
    return MHD_YES;
}

/* Answers a logs path's rendered JSON body or a static file (moved: *body
 * is left empty) of Content-Type type: 304 when If-None-Match matches,
 * else 200, gzip-compressed when accepted. hash: the body's ETag hash
 * (sl_http_etag_hash) when the caller has it, else NULL (computed here). */
static enum MHD_Result web_answer(struct MHD_Connection *conn,
                                  struct sl_req *rq, struct sl_buf *body,
                                  const char *type, const uint64_t *hash)
{
    if (body->oom || !body->data) /* sl_http_respond answers it */
        return sl_http_respond(conn, rq, MHD_HTTP_OK, body, type, false, NULL);
    uint64_t h = hash ? *hash : sl_http_etag_hash(body->data, body->len);
    bool gz = body->len >= SL_HTTP_GZIP_MIN &&
              sl_http_accepts_gzip(MHD_lookup_connection_value(
                  conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    if (gz) {
        /* Compressed even for a 304: its Content-Length is the gzip
         * body's (RFC 9110 8.6). */
        struct sl_buf z;
        sl_buf_init(&z);
        if (sl_http_gzip(body->data, body->len, &z) == SL_OK) {
            sl_http_etag_of(h, true, rq->etag);
            sl_buf_free(body);
            *body = z;
            rq->gzip = true;
        }
    }
    if (!rq->gzip) /* plain (also when compressing failed): its own tag */
        sl_http_etag_of(h, false, rq->etag);
    const char *inm = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (sl_http_etag_match(inm, rq->etag))
        return sl_http_respond(conn, rq, MHD_HTTP_NOT_MODIFIED, body, NULL,
                               false, NULL);
    return sl_http_respond(conn, rq, MHD_HTTP_OK, body, type, false, NULL);
}

enum MHD_Result sl_http_answer_asset(struct MHD_Connection *conn,
                                     struct sl_req *rq, const char *path)
{
    const struct sl_asset *a = sl_http_asset_find(path, strlen(path));
    if (!a) {
        char msg[SL_HTTP_LOG_PATH_MAX + 64];
        snprintf(msg, sizeof(msg), "no such file: %.*s", 200, path);
        return sl_http_respond_error(conn, rq, SL_ENOROUTE, msg);
    }
    struct sl_buf body;
    sl_buf_init(&body);
    sl_buf_append(&body, a->data, a->len);
    return web_answer(conn, rq, &body, a->type, NULL);
}

bool sl_http_web_preflight(struct MHD_Connection *conn, struct sl_req *rq,
                           enum MHD_Result *ret)
{
    if (!logs_path(rq) ||
        !sl_http_cors_allow(
            rq->cors, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_ORIGIN)))
        return false;
    struct sl_buf none;
    sl_buf_init(&none);
    rq->preflight = true;
    *ret = sl_http_respond(conn, rq, MHD_HTTP_NO_CONTENT, &none, NULL, false,
                           NULL);
    return true;
}

/* ---- big answers, streamed (http_answer.h) ------------------------------ */

struct stream {
    grpc_slice packed;
    struct sl_json_stream *js;
    struct sl_buf plain; /* rendered, not yet sent (or deflated) */
    size_t plain_off;
    bool plain_done; /* the renderer has written the tail */
    bool gz;
    z_stream z;
    bool z_on, z_end;
    struct sl_buf zout; /* deflated, not yet sent */
    size_t zoff;
};

static void stream_free(void *cls)
{
    struct stream *st = cls;
    if (st->z_on)
        deflateEnd(&st->z);
    sl_json_stream_free(st->js);
    sl_buf_free(&st->plain);
    sl_buf_free(&st->zout);
    grpc_slice_unref(st->packed);
    free(st);
}

/* Renders the next chunk into st->plain (emptied first). */
static bool render_more(struct stream *st)
{
    st->plain.len = 0;
    st->plain_off = 0;
    int rc = sl_json_stream_next(st->js, &st->plain, SL_HTTP_STREAM_CHUNK,
                                 &st->plain_done);
    if (rc == SL_OK)
        return true;
    sl_log(SL_LOG_ERROR, "shim: a streamed answer ends early: %s",
           sl_strerror(rc));
    return false;
}

static size_t take(struct sl_buf *b, size_t *off, char *buf, size_t max)
{
    size_t n = b->len - *off;
    if (n > max)
        n = max;
    memcpy(buf, b->data + *off, n);
    *off += n;
    return n;
}

static ssize_t read_plain(struct stream *st, char *buf, size_t max)
{
    while (st->plain_off == st->plain.len) {
        if (st->plain_done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!render_more(st))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    return (ssize_t)take(&st->plain, &st->plain_off, buf, max);
}

static ssize_t read_gzip(struct stream *st, char *buf, size_t max)
{
    while (st->zoff == st->zout.len) {
        if (st->z_end)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (st->plain_off == st->plain.len && !st->plain_done &&
            !render_more(st))
            return MHD_CONTENT_READER_END_WITH_ERROR;
        st->zout.len = st->zoff = 0;
        st->z.next_in = (Bytef *)st->plain.data + st->plain_off;
        st->z.avail_in = (uInt)(st->plain.len - st->plain_off);
        st->z.next_out = (Bytef *)st->zout.data;
        st->z.avail_out = (uInt)st->zout.cap;
        bool last = st->plain_done;
        int zr = deflate(&st->z, last ? Z_FINISH : Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            sl_log(SL_LOG_ERROR, "shim: gzip of a streamed answer: %d", zr);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        st->plain_off = st->plain.len - st->z.avail_in;
        st->zout.len = st->zout.cap - st->z.avail_out;
        st->z_end = zr == Z_STREAM_END;
    }
    return (ssize_t)take(&st->zout, &st->zoff, buf, max);
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *st = cls;
    return st->gz ? read_gzip(st, buf, max) : read_plain(st, buf, max);
}

enum MHD_Result sl_http_stream_answer(struct MHD_Connection *conn,
                                      struct sl_req *rq, grpc_slice packed)
{
    bool gz = sl_http_accepts_gzip(MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    sl_http_etag_packed(GRPC_SLICE_START_PTR(packed), GRPC_SLICE_LENGTH(packed),
                        gz, rq->etag);
    const char *inm = MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (sl_http_etag_match(inm, rq->etag)) {
        grpc_slice_unref(packed);
        rq->gzip = gz;
        /* Content-Length: 0 (libmicrohttpd adds it); a reader of unknown
         * size would make it send a chunked terminator, a body, after the
         * 304. RFC 9111 4.3.4: caches keep the stored Content-Length. */
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        return sl_http_queue(conn, rq, MHD_HTTP_NOT_MODIFIED, r, NULL, false,
                             NULL);
    }
    struct stream *st = calloc(1, sizeof(*st));
    if (!st) {
        grpc_slice_unref(packed);
        return sl_http_respond_error(conn, rq, SL_ENOMEM, NULL);
    }
    st->packed = packed;
    sl_buf_init(&st->plain);
    sl_buf_init(&st->zout);
    int rc = sl_json_stream_open(GRPC_SLICE_START_PTR(packed),
                                 GRPC_SLICE_LENGTH(packed), &st->js);
    if (rc == SL_OK && gz) {
        st->gz = true;
        if (sl_http_gzip_init(&st->z) != SL_OK ||
            !sl_buf_reserve(&st->zout, SL_HTTP_STREAM_CHUNK))
            rc = SL_ENOMEM;
        else
            st->z_on = true;
    }
    if (rc != SL_OK) {
        stream_free(st);
        return sl_http_respond_error(
            conn, rq, rc,
            rc == SL_ECORRUPT ? "the query service sent a malformed answer"
                              : NULL);
    }
    rq->gzip = gz;
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, SL_HTTP_STREAM_CHUNK, reader, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    return sl_http_queue(conn, rq, MHD_HTTP_OK, r, SL_HTTP_JSON_TYPE, false,
                         NULL);
}
