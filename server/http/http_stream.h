/* http_stream.h -- a big logs answer, rendered while it is sent
 *
 * A REST answer of tens of thousands of logs is not built whole: the shim
 * keeps the packed QueryServiceLogsResponse (the gRPC answer's bytes, a
 * fraction of the JSON's size) and libmicrohttpd pulls the JSON from it a
 * chunk at a time (render_json.h's stream), gzip-compressed on the way
 * when the client accepts gzip (one deflate stream per answer). Memory per
 * answer: the packed bytes, one chunk and zlib's state, instead of the
 * protobuf-c tree of every log plus the whole JSON (36 MiB for a 50 000-log
 * answer of 11.5 MB before; docs/rest.md).
 *
 * What changes for the client: the body comes with Transfer-Encoding:
 * chunked instead of a Content-Length (HTTP/1.0: ends with the
 * connection), and its ETag is computed from the packed answer and this
 * build's version (the JSON is a function of both) rather than from the
 * JSON, with a "p" before the digits: still strong, still different for
 * the gzip body ("-gz"), and If-None-Match -> 304 without rendering
 * anything. A log that cannot be rendered mid-way (the store vouched for
 * every byte, so this is a bug or memory running out) ends the body early
 * and the connection with it, logged at error.
 *
 * Answers smaller than SL_HTTP_STREAM_MIN packed bytes are rendered whole
 * as before (Content-Length, the JSON's ETag). */
#ifndef SL_HTTP_STREAM_H
#define SL_HTTP_STREAM_H

#include <grpc/slice.h>
#include <microhttpd.h>

#include "http_answer.h"

#define SL_HTTP_STREAM_MIN (256 * 1024)  /* packed bytes: stream from here */
#define SL_HTTP_STREAM_CHUNK (32 * 1024) /* JSON rendered per step */

/* Answers 200 (or 304) with the JSON of packed, a QueryServiceLogsResponse
 * (takes the caller's reference). */
enum MHD_Result sl_http_stream_answer(struct MHD_Connection *conn,
                                      struct sl_req *rq, grpc_slice packed);

#endif
