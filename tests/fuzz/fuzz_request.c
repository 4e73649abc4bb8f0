/* fuzz_request.c -- the request decoders: QueryServiceLogs and Health
 *
 * Input: the bytes of a request message. sl_rpc_query_logs runs them
 * against a real memory store holding FIXTURE (imported once, through
 * sl_import_parse and the store's import), and sl_health_decode_request
 * decodes the same bytes. Beyond "no crash, no leak":
 * - the hand-written decoders agree with protobuf-c: what they accept,
 *   protobuf-c reads the same (the last occurrence wins in both) unless a
 *   tag or length takes over 5 bytes (long_varint()); what protobuf-c
 *   reads without unknown fields (strict()) and NULs, they accept;
 * - SL_OK exactly when the ids are valid, update_time >= 0 and the
 *   service is in FIXTURE and not batch; otherwise SL_EINVAL,
 *   SL_ENOTFOUND or SL_EBATCH as FIXTURE says, and an empty response;
 * - an SL_OK response unpacks with protobuf-c as QueryServiceLogsResponse,
 *   is byte-identical to protobuf-c's packing of it, names the service,
 *   and holds exactly the imported logs that match update_time, oldest
 *   first (ties in file order), byte for byte;
 * - ids gets the request's ids on success;
 * - the health decoder's name lies inside the request.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/slice.h>

#include "fuzz.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc_health.h"
#include "import.h"
#include "modelarts/v1/service_logs.pb-c.h"
#include "rpc.h"
#include "store.h"
#include "wire.h"

/* Short ids, so the fuzzer finds them; equal times test the tie order. */
static const char FIXTURE[] =
    "{\"services\": ["
    " {\"project_id\": \"p\", \"service_id\": \"rt\", \"service_name\": \"r\","
    "  \"infer_type\": \"real-time\", \"logs\": ["
    "   {\"update_time\": 300, \"result\": \"SUCCESS\", \"config\": ["
    "     {\"model_id\": \"m1\", \"model_name\": \"n\", \"model_version\": "
    "\"1\", \"weight\": 70, \"instance_count\": 1, \"envs\": {\"B\": \"2\", "
    "\"A\": \"1\"}}]},"
    "   {\"update_time\": 100, \"result\": \"FAIL\", \"config\": []},"
    "   {\"update_time\": 300, \"result\": \"RUNNING\", \"config\": []}]},"
    " {\"project_id\": \"p\", \"service_id\": \"e\", \"service_name\": "
    "\"edge\","
    "  \"infer_type\": \"edge\", \"logs\": ["
    "   {\"update_time\": 5, \"result\": \"SUCCESS\", \"config\": [],"
    "    \"success_num\": 1, \"failed_num\": 1, \"result_detail\": ["
    "     {\"node_id\": \"n1\", \"node_name\": \"a\", \"operation\": "
    "\"deploy\", \"result\": true}]}]},"
    " {\"project_id\": \"p\", \"service_id\": \"b\", \"service_name\": \"bt\","
    "  \"infer_type\": \"batch\", \"logs\": []},"
    " {\"project_id\": \"q\", \"service_id\": \"rt\", \"service_name\": \"o\","
    "  \"infer_type\": \"real-time\", \"logs\": []}"
    "]}";

/* Set once, kept for the process (reachable: not a leak). */
static struct sl_store *store;
static struct sl_import_set fixture;

static void init_once(void)
{
    struct sl_err err;
    if (store)
        return;
    FUZZ_CHECK(sl_import_parse(FIXTURE, sizeof(FIXTURE) - 1, &fixture, &err) ==
               SL_OK);
    FUZZ_CHECK(sl_store_open("memory:", &store, &err) == SL_OK);
    FUZZ_CHECK(sl_store_import(store, fixture.services, fixture.n_services,
                               &err) == SL_OK);
}

static const struct sl_import_service *find(const char *project,
                                            const char *service)
{
    for (size_t i = 0; i < fixture.n_services; i++)
        if (strcmp(fixture.services[i].project_id, project) == 0 &&
            strcmp(fixture.services[i].service_id, service) == 0)
            return &fixture.services[i];
    return NULL;
}

/* protobuf-c unpacks some bytes that are not a valid message: a tag
 * with field number 0 in an overlong varint, or a field number above
 * 2^29-1 (cut to 32 bits), which the hand decoders reject as the
 * protobuf encoding spec says. Such fields can only be unknown ones, so
 * the reverse comparisons hold for messages without unknown fields. */
static bool strict(const ProtobufCMessage *m)
{
    return m->n_unknown_fields == 0;
}

/* Bytes of the varint at p (up to end). */
static size_t varint_len(const uint8_t *p, const uint8_t *end)
{
    size_t n = 0;
    while (p + n < end && (p[n] & 0x80))
        n++;
    return n + 1;
}

/* True when a top-level tag or length prefix of data takes more than 5
 * bytes: the wire format allows any varint there (Go and C++ protobuf read
 * one, so do the hand decoders), protobuf-c refuses it. Walks with the
 * server's own sl_wire_next (wire.h); false when that fails first. */
static bool long_varint(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    while (p < end) {
        size_t n = varint_len(p, end);
        if (n > 5 ||
            ((p[0] & 7) == 2 && p + n < end && varint_len(p + n, end) > 5))
            return true;
        struct sl_wire_field f;
        if (sl_wire_next(&p, end, &f) < 0)
            return false;
    }
    return false;
}

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789_-") == n;
}

/* The response must hold svc's logs with update_time t (all when 0), in
 * (update_time, file order) order, each byte-identical to its import. */
static void check_logs(const Modelarts__V1__QueryServiceLogsResponse *r,
                       const struct sl_import_service *svc, int64_t t)
{
    size_t k = 0;
    int64_t prev = INT64_MIN;
    for (;;) {
        /* The next stored log in (update_time, file order) after prev/k. */
        const struct sl_import_log *next = NULL;
        int64_t best = INT64_MAX;
        for (size_t i = 0; i < svc->n_logs; i++) {
            const struct sl_import_log *l = &svc->logs[i];
            if (t && l->update_time != t)
                continue;
            if (l->update_time > prev && l->update_time < best) {
                best = l->update_time;
                next = l;
            }
        }
        if (!next)
            break;
        for (size_t i = 0; i < svc->n_logs; i++) {
            const struct sl_import_log *l = &svc->logs[i];
            if (l->update_time != best)
                continue;
            FUZZ_CHECK(k < r->n_logs);
            size_t len =
                modelarts__v1__service_log__get_packed_size(r->logs[k]);
            uint8_t *b = malloc(len ? len : 1);
            FUZZ_CHECK(b != NULL);
            modelarts__v1__service_log__pack(r->logs[k], b);
            FUZZ_CHECK(len == l->body.len &&
                       (len == 0 || memcmp(b, l->body.data, len) == 0));
            free(b);
            k++;
        }
        prev = best;
    }
    FUZZ_CHECK(k == r->n_logs);
}

static void check_ok(const struct sl_import_service *svc, int64_t t,
                     grpc_slice resp)
{
    const uint8_t *p = GRPC_SLICE_START_PTR(resp);
    size_t len = GRPC_SLICE_LENGTH(resp);
    Modelarts__V1__QueryServiceLogsResponse *r =
        modelarts__v1__query_service_logs_response__unpack(NULL, len, p);
    FUZZ_CHECK(r != NULL);

    size_t want_len =
        modelarts__v1__query_service_logs_response__get_packed_size(r);
    FUZZ_CHECK(want_len == len);
    uint8_t *want = malloc(len ? len : 1);
    FUZZ_CHECK(want != NULL);
    modelarts__v1__query_service_logs_response__pack(r, want);
    FUZZ_CHECK(len == 0 || memcmp(want, p, len) == 0);
    free(want);

    FUZZ_CHECK(strcmp(r->service_id, svc->service_id) == 0);
    FUZZ_CHECK(strcmp(r->service_name, svc->service_name) == 0);
    FUZZ_CHECK((int)r->infer_type == svc->infer_type);
    check_logs(r, svc, t);
    modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
}

static void check_query(const uint8_t *data, size_t size)
{
    struct sl_rpc_ctx ctx = {.store = store, .backend_ok = true};
    struct sl_query_ids ids;
    struct sl_err err;
    grpc_slice resp;
    sl_err_clear(&err);
    memset(&ids, 'x', sizeof(ids));
    int rc = sl_rpc_query_logs(&ctx, data, size, &resp, &ids, &err);

    Modelarts__V1__QueryServiceLogsRequest *req =
        modelarts__v1__query_service_logs_request__unpack(NULL, size, data);
    bool lenient = long_varint(data, size);
    if (rc == SL_OK && lenient) {
        /* protobuf-c cannot say what was asked; ids can. */
        const struct sl_import_service *svc =
            find(ids.project_id, ids.service_id);
        FUZZ_CHECK(svc && svc->infer_type != MODELARTS__V1__INFER_TYPE__BATCH);
        Modelarts__V1__QueryServiceLogsResponse *r =
            modelarts__v1__query_service_logs_response__unpack(
                NULL, GRPC_SLICE_LENGTH(resp), GRPC_SLICE_START_PTR(resp));
        FUZZ_CHECK(r && strcmp(r->service_id, svc->service_id) == 0);
        modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    } else if (rc == SL_OK) {
        /* The hand decoder accepted it: protobuf-c reads the same. */
        FUZZ_CHECK(req != NULL);
        FUZZ_CHECK(id_ok(req->project_id) && id_ok(req->service_id));
        FUZZ_CHECK(req->update_time >= 0);
        FUZZ_CHECK(strcmp(ids.project_id, req->project_id) == 0);
        FUZZ_CHECK(strcmp(ids.service_id, req->service_id) == 0);
        const struct sl_import_service *svc =
            find(req->project_id, req->service_id);
        FUZZ_CHECK(svc && svc->infer_type != MODELARTS__V1__INFER_TYPE__BATCH);
        check_ok(svc, req->update_time, resp);
    } else {
        FUZZ_CHECK(GRPC_SLICE_LENGTH(resp) == 0);
        FUZZ_CHECK(err.code == rc);
        FUZZ_CHECK(rc == SL_EINVAL || rc == SL_ENOTFOUND || rc == SL_EBATCH);
        if (req && strict(&req->base) && !memchr(data, '\0', size) &&
            id_ok(req->project_id) && id_ok(req->service_id) &&
            req->update_time >= 0) {
            /* protobuf-c read a valid request (no byte is 0, so no string
             * hides a NUL from strlen): the store decides. */
            const struct sl_import_service *svc =
                find(req->project_id, req->service_id);
            FUZZ_CHECK(rc == (!svc ? SL_ENOTFOUND : SL_EBATCH));
            FUZZ_CHECK(svc == NULL ||
                       svc->infer_type == MODELARTS__V1__INFER_TYPE__BATCH);
        }
        if (rc == SL_EINVAL) {
            FUZZ_CHECK(ids.project_id[0] == '\0' && ids.service_id[0] == '\0');
        } else if (!lenient) {
            FUZZ_CHECK(req != NULL);
            FUZZ_CHECK(strcmp(ids.project_id, req->project_id) == 0);
            FUZZ_CHECK(strcmp(ids.service_id, req->service_id) == 0);
        }
    }
    if (req)
        modelarts__v1__query_service_logs_request__free_unpacked(req, NULL);
    grpc_slice_unref(resp);
}

static void check_health(const uint8_t *data, size_t size)
{
    const char *name = NULL;
    size_t len = 0;
    int rc = sl_health_decode_request(data, size, &name, &len);
    Grpc__Health__V1__HealthCheckRequest *req =
        grpc__health__v1__health_check_request__unpack(NULL, size, data);
    if (rc == 0) {
        FUZZ_CHECK(name != NULL);
        FUZZ_CHECK(len == 0 || (name >= (const char *)data &&
                                name + len <= (const char *)data + size));
        FUZZ_CHECK(req != NULL || long_varint(data, size));
        if (req && !memchr(name, '\0', len))
            FUZZ_CHECK(strlen(req->service) == len &&
                       memcmp(req->service, name, len) == 0);
    } else {
        FUZZ_CHECK(rc == -1);
        FUZZ_CHECK(req == NULL || !strict(&req->base));
    }
    if (req)
        grpc__health__v1__health_check_request__free_unpacked(req, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    check_query(data, size);
    check_health(data, size);
    return 0;
}
