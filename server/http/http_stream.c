/* http_stream.c -- a big logs answer, rendered while it is sent
 * (http_stream.h) */
#include "http_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "log.h"
#include "render_json.h"

#ifndef SL_VERSION
#define SL_VERSION "dev"
#endif

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

/* The ETag of the packed answer as this build renders it. */
static void packed_etag(grpc_slice packed, bool gz, char out[SL_HTTP_ETAG_MAX])
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a 64 */
    const unsigned char *parts[2] = {(const unsigned char *)SL_VERSION,
                                     GRPC_SLICE_START_PTR(packed)};
    size_t lens[2] = {strlen(SL_VERSION), GRPC_SLICE_LENGTH(packed)};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < lens[k]; i++) {
            h ^= parts[k][i];
            h *= 0x100000001b3ULL;
        }
    snprintf(out, SL_HTTP_ETAG_MAX, "\"p%016llx%s\"", (unsigned long long)h,
             gz ? "-gz" : "");
}

enum MHD_Result sl_http_stream_answer(struct MHD_Connection *conn,
                                      struct sl_req *rq, grpc_slice packed)
{
    bool gz = sl_http_accepts_gzip(MHD_lookup_connection_value(
        conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    packed_etag(packed, gz, rq->etag);
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
        if (deflateInit2(&st->z, SL_HTTP_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK ||
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
