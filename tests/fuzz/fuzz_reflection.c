/* fuzz_reflection.c -- server reflection answers (sl_reflection_answer)
 *
 * Input: the bytes of a ServerReflectionRequest, answered by one
 * sl_reflection made at the first call and kept for the process. Beyond
 * "no crash, no leak":
 * - SL_OK exactly when protobuf-c unpacks the bytes (else SL_EINVAL and
 *   an empty response);
 * - the answer unpacks as a ServerReflectionResponse that echoes the host
 *   as valid_host and the request as original_request (same packed bytes),
 *   and always carries an answer: a request without message_request gets
 *   error 3 (INVALID_ARGUMENT); an unknown name gets error 5 (NOT_FOUND);
 *   list_services lists at least one named service;
 *   all_extension_numbers_of_type names the type asked for (without a
 *   leading '.');
 * - a file answer is a non-empty list of distinct FileDescriptorProtos
 *   that each unpack and whose imports are all in the list, the file asked
 *   for by name first.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/slice.h>

#include "fuzz.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "reflection.h"
#include "wire.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest Req;
typedef Grpc__Reflection__V1__ServerReflectionResponse Resp;
typedef Google__Protobuf__FileDescriptorProto File;

#define CASE_(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__##x
#define RCASE_(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__##x

static struct sl_reflection *refl; /* kept for the process */

/* True when a and b pack to the same bytes. */
static bool same_request(const Req *a, const Req *b)
{
    size_t la =
        grpc__reflection__v1__server_reflection_request__get_packed_size(a);
    size_t lb =
        grpc__reflection__v1__server_reflection_request__get_packed_size(b);
    if (la != lb)
        return false;
    uint8_t *pa = malloc(la + 1), *pb = malloc(lb + 1);
    FUZZ_CHECK(pa && pb);
    grpc__reflection__v1__server_reflection_request__pack(a, pa);
    grpc__reflection__v1__server_reflection_request__pack(b, pb);
    bool same = memcmp(pa, pb, la) == 0;
    free(pa);
    free(pb);
    return same;
}

static void check_files(const Grpc__Reflection__V1__FileDescriptorResponse *fr,
                        const char *first)
{
    size_t n = fr->n_file_descriptor_proto;
    FUZZ_CHECK(n >= 1);
    File **f = calloc(n, sizeof(*f));
    FUZZ_CHECK(f != NULL);
    for (size_t i = 0; i < n; i++) {
        f[i] = google__protobuf__file_descriptor_proto__unpack(
            NULL, fr->file_descriptor_proto[i].len,
            fr->file_descriptor_proto[i].data);
        FUZZ_CHECK(f[i] != NULL && f[i]->name && f[i]->name[0]);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(f[i]->name, f[j]->name) != 0);
    }
    if (first)
        FUZZ_CHECK(strcmp(f[0]->name, first) == 0);
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < f[i]->n_dependency; d++) {
            bool found = false;
            for (size_t j = 0; j < n && !found; j++)
                found = strcmp(f[i]->dependency[d], f[j]->name) == 0;
            FUZZ_CHECK(found);
        }
    }
    for (size_t i = 0; i < n; i++)
        google__protobuf__file_descriptor_proto__free_unpacked(f[i], NULL);
    free(f);
}

static void check_answer(const Req *q, const Resp *a)
{
    FUZZ_CHECK(strcmp(a->valid_host, q->host) == 0);
    FUZZ_CHECK(a->original_request && same_request(a->original_request, q));
    int rc = a->message_response_case;
    if (rc == RCASE_(MESSAGE_RESPONSE_ERROR_RESPONSE)) {
        int code = a->error_response->error_code;
        if (q->message_request_case == CASE_(MESSAGE_REQUEST__NOT_SET))
            FUZZ_CHECK(code == 3);
        else
            FUZZ_CHECK(code == 5 && q->message_request_case !=
                                        CASE_(MESSAGE_REQUEST_LIST_SERVICES));
        return;
    }
    switch (q->message_request_case) {
    case CASE_(MESSAGE_REQUEST_FILE_BY_FILENAME):
        FUZZ_CHECK(rc == RCASE_(MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE));
        check_files(a->file_descriptor_response, q->file_by_filename);
        break;
    case CASE_(MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL):
    case CASE_(MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION):
        FUZZ_CHECK(rc == RCASE_(MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE));
        check_files(a->file_descriptor_response, NULL);
        break;
    case CASE_(MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE): {
        FUZZ_CHECK(rc ==
                   RCASE_(MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE));
        const char *t = q->all_extension_numbers_of_type;
        if (t[0] == '.')
            t++;
        FUZZ_CHECK(
            strcmp(a->all_extension_numbers_response->base_type_name, t) == 0);
        break;
    }
    case CASE_(MESSAGE_REQUEST_LIST_SERVICES): {
        FUZZ_CHECK(rc == RCASE_(MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE));
        const Grpc__Reflection__V1__ListServiceResponse *l =
            a->list_services_response;
        FUZZ_CHECK(l->n_service >= 1);
        for (size_t i = 0; i < l->n_service; i++)
            FUZZ_CHECK(l->service[i]->name && l->service[i]->name[0]);
        break;
    }
    default:
        fuzz_fail(__FILE__, __LINE__, "an answer to no request");
    }
}

/* The wire-level walk the server applies before protobuf-c: every field
 * well-formed (field numbers 1..2^29-1), at the top and inside field 5. */
static bool walk_ok(const uint8_t *p, size_t len, bool top)
{
    const uint8_t *end = p + len;
    while (p < end) {
        struct sl_wire_field f;
        if (sl_wire_next(&p, end, &f) < 0)
            return false;
        if (top && f.number == 5 && f.type == 2 &&
            !walk_ok(f.data, f.len, false))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sl_err err;
    if (!refl)
        FUZZ_CHECK(sl_reflection_create(&refl, &err) == SL_OK);

    grpc_slice resp;
    sl_err_clear(&err);
    int rc = sl_reflection_answer(refl, data, size, &resp, &err);
    Req *q = grpc__reflection__v1__server_reflection_request__unpack(NULL, size,
                                                                     data);
    if (rc == SL_OK) {
        FUZZ_CHECK(q != NULL);
        Resp *a = grpc__reflection__v1__server_reflection_response__unpack(
            NULL, GRPC_SLICE_LENGTH(resp), GRPC_SLICE_START_PTR(resp));
        FUZZ_CHECK(a != NULL);
        check_answer(q, a);
        grpc__reflection__v1__server_reflection_response__free_unpacked(a,
                                                                        NULL);
    } else {
        FUZZ_CHECK(rc == SL_EINVAL && err.code == rc);
        /* Refused: protobuf-c refuses it too, or the stricter wire walk
         * does (protobuf-c keeps field number 0 as an unknown field and
         * would echo it back unreadable). */
        FUZZ_CHECK(q == NULL || !walk_ok(data, size, true));
        FUZZ_CHECK(GRPC_SLICE_LENGTH(resp) == 0);
    }
    if (q)
        grpc__reflection__v1__server_reflection_request__free_unpacked(q, NULL);
    grpc_slice_unref(resp);
    return 0;
}
