/* rpc_query_logs.c -- QueryServiceLogs: unpack -> validate -> store -> pack
 *
 * The store hands back each log in its wire form (a packed ServiceLog), so
 * the response is written directly: fields 1 and 2, one length-delimited
 * field 3 per stored log, field 4. Nothing is decoded or re-encoded on the
 * hot path; the output is byte-identical to protobuf-c packing the same
 * message (fields in number order, defaults omitted).
 */
#include "rpc.h"

#include <string.h>

#include "modelarts/v1/service_logs.pb-c.h"
#include "validate.h"

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Size of a length-delimited field with a one-byte key. */
static size_t ld_len(size_t n)
{
    return 1 + varint_len(n) + n;
}

static uint8_t *put_ld(uint8_t *p, uint8_t key, const void *data, size_t n)
{
    *p++ = key;
    p = put_varint(p, n);
    if (n)
        memcpy(p, data, n);
    return p + n;
}

/* Packs the page as a QueryServiceLogsResponse into one slice. */
static grpc_slice pack_response(const struct sl_log_page *pg)
{
    size_t id_len = strlen(pg->service_id);
    size_t name_len = strlen(pg->service_name);
    size_t total = 0;
    if (id_len)
        total += ld_len(id_len);
    if (name_len)
        total += ld_len(name_len);
    for (size_t i = 0; i < pg->n_logs; i++)
        total += ld_len(pg->logs[i].len);
    if (pg->infer_type)
        total += 1 + varint_len((uint64_t)(int64_t)pg->infer_type);

    grpc_slice s = grpc_slice_malloc(total);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    if (id_len)
        p = put_ld(p, 0x0a, pg->service_id, id_len); /* 1: service_id */
    if (name_len)
        p = put_ld(p, 0x12, pg->service_name, name_len); /* 2: name */
    for (size_t i = 0; i < pg->n_logs; i++)              /* 3: logs */
        p = put_ld(p, 0x1a, pg->logs[i].data, pg->logs[i].len);
    if (pg->infer_type) { /* 4: infer_type */
        *p++ = 0x20;
        p = put_varint(p, (uint64_t)(int64_t)pg->infer_type);
    }
    return s;
}

/* A decoded request; the id pointers point into the request bytes. */
struct query_req {
    const char *project_id;
    size_t project_len;
    const char *service_id;
    size_t service_len;
    int64_t update_time;
};

static const uint8_t *get_varint(const uint8_t *p, const uint8_t *end,
                                 uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && p < end; shift += 7) {
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

/* Decodes a QueryServiceLogsRequest by hand: three fields do not need a
 * general decoder, and this keeps the ids' true lengths (a string with an
 * embedded NUL must fail validation, not be cut short) with no malloc.
 * Unknown fields are skipped as proto3 requires; the last occurrence of a
 * field wins. 0, or -1 when the bytes are not a valid message. */
static int decode_request(const uint8_t *p, size_t len, struct query_req *r)
{
    const uint8_t *end = p + len;
    memset(r, 0, sizeof(*r));
    r->project_id = r->service_id = "";
    while (p < end) {
        uint64_t key, v;
        if (!(p = get_varint(p, end, &key)) || key >> 3 == 0 ||
            key >> 3 > 536870911)
            return -1;
        switch (key & 7) {
        case 0: /* varint */
            if (!(p = get_varint(p, end, &v)))
                return -1;
            if (key >> 3 == 3)
                r->update_time = (int64_t)v;
            break;
        case 1: /* fixed64 */
            if (end - p < 8)
                return -1;
            p += 8;
            break;
        case 2: /* length-delimited */
            if (!(p = get_varint(p, end, &v)) || v > (uint64_t)(end - p))
                return -1;
            if (key >> 3 == 1) {
                r->project_id = (const char *)p;
                r->project_len = (size_t)v;
            } else if (key >> 3 == 2) {
                r->service_id = (const char *)p;
                r->service_len = (size_t)v;
            }
            p += v;
            break;
        case 5: /* fixed32 */
            if (end - p < 4)
                return -1;
            p += 4;
            break;
        default: /* groups and invalid wire types */
            return -1;
        }
        /* A known field with the wrong wire type is a malformed message. */
        unsigned f = (unsigned)(key >> 3), wt = (unsigned)(key & 7);
        if ((f == 1 || f == 2) ? wt != 2 : f == 3 ? wt != 0 : 0)
            return -1;
    }
    return 0;
}

int sl_rpc_query_logs(struct sl_store *st, const uint8_t *req, size_t req_len,
                      grpc_slice *resp, struct sl_err *err)
{
    *resp = grpc_empty_slice();
    struct query_req r;
    if (decode_request(req, req_len, &r) < 0)
        return sl_err_set(err, SL_EINVAL,
                          "request is not a valid "
                          "modelarts.v1.QueryServiceLogsRequest message");
    int rc = sl_validate_query(r.project_id, r.project_len, r.service_id,
                               r.service_len, r.update_time, err);
    if (rc != SL_OK)
        return rc;

    /* Valid ids are at most SL_ID_MAX bytes: NUL-terminate on the stack. */
    char project[SL_ID_MAX + 1], service[SL_ID_MAX + 1];
    memcpy(project, r.project_id, r.project_len);
    project[r.project_len] = '\0';
    memcpy(service, r.service_id, r.service_len);
    service[r.service_len] = '\0';

    struct sl_log_query q = {
        .project_id = project,
        .service_id = service,
        .update_time = r.update_time,
    };
    struct sl_log_page page;
    sl_log_page_init(&page);
    rc = st->type->query_logs(st, &q, &page, err);
    if (rc != SL_OK)
        goto out;
    if (page.infer_type == MODELARTS__V1__INFER_TYPE__BATCH) {
        rc = sl_err_set(err, SL_EBATCH,
                        "service %s is a batch service; only real-time and "
                        "edge services have update logs",
                        service);
        goto out;
    }
    *resp = pack_response(&page);
out:
    sl_log_page_free(&page);
    return rc;
}
