/* test_reflection.c -- server reflection answered from the embedded set
 *
 * Every request kind goes through sl_reflection_answer() as packed bytes,
 * and every answer is unpacked again with protobuf-c, so these tests see
 * what a client sees: the echoed request, the files (the requested one
 * first, its whole import closure, each once, named by import path) and
 * the in-stream errors.
 */
#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "reflection.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest Req;
typedef Grpc__Reflection__V1__ServerReflectionResponse Resp;

#define CASE_(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__##x
#define RCASE_(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__##x

/* Every file of the embedded set: the transitive closure of the served
 * protos, named by the paths they are imported by. */
static const char *const all_files[] = {
    "modelarts/v1/service_logs.proto",
    "google/api/annotations.proto",
    "google/api/http.proto",
    "google/protobuf/descriptor.proto",
    "grpc/health/v1/health.proto",
    "grpc/reflection/v1/reflection.proto",
    "grpc/reflection/v1alpha/reflection.proto",
};
#define N_FILES (sizeof(all_files) / sizeof(all_files[0]))

static int setup(void **state)
{
    struct sl_reflection *r;
    struct sl_err err;
    if (sl_reflection_create(&r, &err) != SL_OK) {
        fprintf(stderr, "sl_reflection_create: %s\n", err.msg);
        return -1;
    }
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    sl_reflection_destroy(*state);
    return 0;
}

/* Packs q, answers it and unpacks the answer (freed by the caller with
 * grpc__reflection__v1__server_reflection_response__free_unpacked). The
 * answer must echo q as original_request and q's host as valid_host. */
static Resp *ask(const struct sl_reflection *r, const Req *q)
{
    size_t len =
        grpc__reflection__v1__server_reflection_request__get_packed_size(q);
    uint8_t *buf = malloc(len + 1);
    grpc__reflection__v1__server_reflection_request__pack(q, buf);
    grpc_slice out;
    struct sl_err err;
    assert_sl_ok(sl_reflection_answer(r, buf, len, &out, &err), &err);
    Resp *a = grpc__reflection__v1__server_reflection_response__unpack(
        NULL, GRPC_SLICE_LENGTH(out), GRPC_SLICE_START_PTR(out));
    assert_non_null(a);
    grpc_slice_unref(out);

    assert_string_equal(a->valid_host, q->host);
    assert_non_null(a->original_request);
    size_t elen =
        grpc__reflection__v1__server_reflection_request__get_packed_size(
            a->original_request);
    assert_int_equal(elen, len);
    uint8_t *echo = malloc(elen + 1);
    grpc__reflection__v1__server_reflection_request__pack(a->original_request,
                                                          echo);
    assert_memory_equal(echo, buf, len);
    free(echo);
    free(buf);
    return a;
}

static void resp_free(Resp *a)
{
    grpc__reflection__v1__server_reflection_response__free_unpacked(a, NULL);
}

static Resp *ask_symbol(const struct sl_reflection *r, const char *sym)
{
    Req q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    q.host = "localhost:50051";
    q.message_request_case = CASE_(MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL);
    q.file_containing_symbol = (char *)sym;
    return ask(r, &q);
}

static Resp *ask_file(const struct sl_reflection *r, const char *name)
{
    Req q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    q.message_request_case = CASE_(MESSAGE_REQUEST_FILE_BY_FILENAME);
    q.file_by_filename = (char *)name;
    return ask(r, &q);
}

static void assert_error(const Resp *a, int code, const char *needle)
{
    if (a->message_response_case != RCASE_(MESSAGE_RESPONSE_ERROR_RESPONSE))
        fail_msg("want error_response %d, got response case %d", code,
                 (int)a->message_response_case);
    assert_int_equal(a->error_response->error_code, code);
    if (needle && !strstr(a->error_response->error_message, needle))
        fail_msg("error message [%s] lacks [%s]",
                 a->error_response->error_message, needle);
}

static int known_file(const char *name)
{
    for (size_t i = 0; i < N_FILES; i++)
        if (!strcmp(name, all_files[i]))
            return 1;
    return 0;
}

/* Checks a file_descriptor_response: first is the first file's name; every
 * file appears once; every import of every file is in the answer (the
 * closure is complete); want (when > 0) files in all. Returns the number. */
static size_t check_closure(const Resp *a, const char *first, size_t want)
{
    if (a->message_response_case !=
        RCASE_(MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE))
        fail_msg("want file_descriptor_response for %s, got case %d", first,
                 (int)a->message_response_case);
    const Grpc__Reflection__V1__FileDescriptorResponse *fr =
        a->file_descriptor_response;
    size_t n = fr->n_file_descriptor_proto;
    assert_true(n >= 1 && n <= N_FILES);
    Google__Protobuf__FileDescriptorProto *fd[N_FILES] = {NULL};
    for (size_t i = 0; i < n; i++) {
        fd[i] = google__protobuf__file_descriptor_proto__unpack(
            NULL, fr->file_descriptor_proto[i].len,
            fr->file_descriptor_proto[i].data);
        assert_non_null(fd[i]);
        if (!known_file(fd[i]->name))
            fail_msg("file %s is not named by its import path", fd[i]->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(fd[i]->name, fd[j]->name))
                fail_msg("file %s sent twice", fd[i]->name);
    }
    assert_string_equal(fd[0]->name, first);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < fd[i]->n_dependency; d++) {
            size_t j = 0;
            while (j < n && strcmp(fd[j]->name, fd[i]->dependency[d]))
                j++;
            if (j == n)
                fail_msg("%s imports %s, which the answer lacks", fd[i]->name,
                         fd[i]->dependency[d]);
        }
    if (want)
        assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++)
        google__protobuf__file_descriptor_proto__free_unpacked(fd[i], NULL);
    return n;
}

static void test_create_destroy(void **state)
{
    (void)state;
    struct sl_reflection *r = NULL;
    struct sl_err err;
    assert_sl_ok(sl_reflection_create(&r, &err), &err);
    assert_non_null(r);
    sl_reflection_destroy(r);
    sl_reflection_destroy(NULL);
}

static void test_list_services(void **state)
{
    Req q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    q.host = "example:1";
    q.message_request_case = CASE_(MESSAGE_REQUEST_LIST_SERVICES);
    q.list_services = "*";
    Resp *a = ask(*state, &q);
    assert_int_equal(a->message_response_case,
                     RCASE_(MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE));
    static const char *const want[] = {
        "modelarts.v1.ServiceLogs",
        "modelarts.v1.ServiceLogWriter",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    };
    assert_int_equal(a->list_services_response->n_service, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(a->list_services_response->service[i]->name,
                            want[i]);
    resp_free(a);

    /* An empty list_services field is a list request all the same. */
    q.list_services = "";
    a = ask(*state, &q);
    assert_int_equal(a->message_response_case,
                     RCASE_(MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE));
    assert_int_equal(a->list_services_response->n_service, 5);
    resp_free(a);
}

/* Symbols of every kind, nested ones included, and the file they live in. */
static void test_file_containing_symbol(void **state)
{
    static const struct {
        const char *sym, *file;
    } cases[] = {
        {"modelarts.v1.ServiceLogs", "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.ServiceLogs.QueryServiceLogs",
         "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.QueryServiceLogsRequest",
         "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.QueryServiceLogsResponse",
         "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.QueryServiceLogsRequest.project_id",
         "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.InferType", "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.REAL_TIME", "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.ServiceConfig.EnvsEntry",
         "modelarts/v1/service_logs.proto"},
        {"modelarts.v1.ServiceConfig.EnvsEntry.key",
         "modelarts/v1/service_logs.proto"},
        {"google.api.http", "google/api/annotations.proto"},
        {"google.api.HttpRule", "google/api/http.proto"},
        {"google.api.HttpRule.pattern", "google/api/http.proto"},
        {"google.protobuf.MethodOptions", "google/protobuf/descriptor.proto"},
        {"google.protobuf.FieldDescriptorProto.Type",
         "google/protobuf/descriptor.proto"},
        {"google.protobuf.FieldDescriptorProto.TYPE_STRING",
         "google/protobuf/descriptor.proto"},
        {"google.protobuf.DescriptorProto.ExtensionRange",
         "google/protobuf/descriptor.proto"},
        {"google.protobuf.SourceCodeInfo.Location.path",
         "google/protobuf/descriptor.proto"},
        {"grpc.health.v1.Health", "grpc/health/v1/health.proto"},
        {"grpc.health.v1.Health.Watch", "grpc/health/v1/health.proto"},
        {"grpc.health.v1.HealthCheckResponse.ServingStatus",
         "grpc/health/v1/health.proto"},
        {"grpc.health.v1.HealthCheckResponse.SERVING",
         "grpc/health/v1/health.proto"},
        {"grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
         "grpc/reflection/v1/reflection.proto"},
        {"grpc.reflection.v1.ServerReflectionRequest.message_request",
         "grpc/reflection/v1/reflection.proto"},
        {"grpc.reflection.v1alpha.ServerReflection",
         "grpc/reflection/v1alpha/reflection.proto"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Resp *a = ask_symbol(*state, cases[i].sym);
        if (a->message_response_case !=
            RCASE_(MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE))
            fail_msg("symbol %s: not found", cases[i].sym);
        check_closure(a, cases[i].file, 0);
        resp_free(a);
    }

    /* The service's file comes with its whole closure, in that order. */
    Resp *a = ask_symbol(*state, "modelarts.v1.ServiceLogs");
    check_closure(a, "modelarts/v1/service_logs.proto", 4);
    resp_free(a);
    a = ask_symbol(*state, "grpc.health.v1.Health");
    check_closure(a, "grpc/health/v1/health.proto", 1);
    resp_free(a);
}

/* One leading '.' is accepted (the descriptor form); nothing else is. */
static void test_leading_dot(void **state)
{
    Resp *a = ask_symbol(*state, ".modelarts.v1.ServiceLogs");
    check_closure(a, "modelarts/v1/service_logs.proto", 4);
    resp_free(a);
    a = ask_symbol(*state, ".google.protobuf.FieldDescriptorProto.Type");
    check_closure(a, "google/protobuf/descriptor.proto", 1);
    resp_free(a);

    static const char *const bad[] = {
        "..modelarts.v1.ServiceLogs", "modelarts.v1.ServiceLogs.",
        " modelarts.v1.ServiceLogs",  "modelarts.v1..ServiceLogs",
        "/modelarts.v1.ServiceLogs",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        a = ask_symbol(*state, bad[i]);
        assert_error(a, 5, "symbol not found");
        resp_free(a);
    }
}

static void test_unknown_symbols(void **state)
{
    static const char *const unknown[] = {
        "modelarts.v1.Nope",
        "modelarts.v1", /* packages are not symbols */
        "modelarts",
        "",
        ".",
        "ServiceLogs",
        "MODELARTS.V1.SERVICELOGS",
        "modelarts.v1.ServiceLogs.Nope",
        "modelarts.v1.QueryServiceLogsRequest.nope",
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        Resp *a = ask_symbol(*state, unknown[i]);
        char want[256];
        snprintf(want, sizeof(want), "symbol not found: %s", unknown[i]);
        assert_error(a, 5, *unknown[i] == '.' ? "symbol not found" : want);
        resp_free(a);
    }

    /* Over-long names: NOT_FOUND, and the message does not repeat them. */
    size_t n = 5000;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    Resp *a = ask_symbol(*state, big);
    assert_error(a, 5, "longer than 1024 bytes");
    assert_true(strlen(a->error_response->error_message) < 200);
    resp_free(a);
    a = ask_file(*state, big);
    assert_error(a, 5, "longer than 1024 bytes");
    resp_free(a);
    /* 1024 bytes is still looked up (and not found); the name is echoed. */
    big[1024] = '\0';
    a = ask_symbol(*state, big);
    assert_error(a, 5, big);
    resp_free(a);
    free(big);
}

static void test_file_by_filename(void **state)
{
    static const size_t closure[N_FILES] = {4, 3, 1, 1, 1, 1, 1};
    for (size_t i = 0; i < N_FILES; i++) {
        Resp *a = ask_file(*state, all_files[i]);
        check_closure(a, all_files[i], closure[i]);
        resp_free(a);
    }
    static const char *const unknown[] = {
        "nope.proto",
        "service_logs.proto",
        "/modelarts/v1/service_logs.proto",
        "modelarts/v1/../v1/service_logs.proto",
        "proto/modelarts/v1/service_logs.proto",
        "Google/api/http.proto",
        "",
    };
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        Resp *a = ask_file(*state, unknown[i]);
        char want[256];
        snprintf(want, sizeof(want), "file not found: %s", unknown[i]);
        assert_error(a, 5, want);
        resp_free(a);
    }
}

/* Every file the set holds is reachable, named by its import path, and the
 * set holds nothing else. */
static void test_set_is_the_closure(void **state)
{
    int seen[N_FILES] = {0};
    for (size_t i = 0; i < N_FILES; i++) {
        Resp *a = ask_file(*state, all_files[i]);
        const Grpc__Reflection__V1__FileDescriptorResponse *fr =
            a->file_descriptor_response;
        for (size_t j = 0; j < fr->n_file_descriptor_proto; j++) {
            Google__Protobuf__FileDescriptorProto *fd =
                google__protobuf__file_descriptor_proto__unpack(
                    NULL, fr->file_descriptor_proto[j].len,
                    fr->file_descriptor_proto[j].data);
            assert_non_null(fd);
            size_t k = 0;
            while (k < N_FILES && strcmp(fd->name, all_files[k]))
                k++;
            assert_true(k < N_FILES);
            seen[k] = 1;
            google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
        }
        resp_free(a);
    }
    for (size_t i = 0; i < N_FILES; i++)
        assert_true(seen[i]);
}

static Resp *ask_ext(const struct sl_reflection *r, const char *type,
                     int32_t number)
{
    Grpc__Reflection__V1__ExtensionRequest e =
        GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    e.containing_type = (char *)type;
    e.extension_number = number;
    Req q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    q.message_request_case = CASE_(MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION);
    q.file_containing_extension = &e;
    return ask(r, &q);
}

static void test_file_containing_extension(void **state)
{
    Resp *a = ask_ext(*state, "google.protobuf.MethodOptions", 72295728);
    check_closure(a, "google/api/annotations.proto", 3);
    resp_free(a);
    a = ask_ext(*state, ".google.protobuf.MethodOptions", 72295728);
    check_closure(a, "google/api/annotations.proto", 3);
    resp_free(a);

    a = ask_ext(*state, "google.protobuf.MethodOptions", 1);
    assert_error(a, 5,
                 "extension not found: 1 of "
                 "google.protobuf.MethodOptions");
    resp_free(a);
    a = ask_ext(*state, "google.protobuf.FieldOptions", 72295728);
    assert_error(a, 5, "extension not found");
    resp_free(a);
    a = ask_ext(*state, "nope.Type", 72295728);
    assert_error(a, 5, "nope.Type");
    resp_free(a);
    a = ask_ext(*state, "", 0);
    assert_error(a, 5, "extension not found");
    resp_free(a);
}

static Resp *ask_numbers(const struct sl_reflection *r, const char *type)
{
    Req q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    q.message_request_case =
        CASE_(MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE);
    q.all_extension_numbers_of_type = (char *)type;
    return ask(r, &q);
}

static void test_all_extension_numbers(void **state)
{
    static const char *const method_options[] = {
        "google.protobuf.MethodOptions", ".google.protobuf.MethodOptions"};
    for (size_t i = 0; i < 2; i++) {
        Resp *a = ask_numbers(*state, method_options[i]);
        assert_int_equal(
            a->message_response_case,
            RCASE_(MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE));
        const Grpc__Reflection__V1__ExtensionNumberResponse *n =
            a->all_extension_numbers_response;
        assert_string_equal(n->base_type_name, "google.protobuf.MethodOptions");
        assert_int_equal(n->n_extension_number, 1);
        assert_int_equal(n->extension_number[0], 72295728);
        resp_free(a);
    }

    /* A known message with no extensions: an empty list. */
    Resp *a = ask_numbers(*state, "modelarts.v1.ServiceLog");
    assert_int_equal(a->message_response_case,
                     RCASE_(MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE));
    assert_string_equal(a->all_extension_numbers_response->base_type_name,
                        "modelarts.v1.ServiceLog");
    assert_int_equal(a->all_extension_numbers_response->n_extension_number, 0);
    resp_free(a);

    /* Unknown names and names that are not messages. */
    static const char *const bad[] = {
        "nope.Type",       "modelarts.v1.InferType", "modelarts.v1.ServiceLogs",
        "google.api.http", "google.protobuf",        ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        a = ask_numbers(*state, bad[i]);
        assert_error(a, 5, "message type not found");
        resp_free(a);
    }
}

/* No message_request set: INVALID_ARGUMENT inside the stream. */
static void test_empty_request(void **state)
{
    Req q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    Resp *a = ask(*state, &q); /* zero bytes on the wire */
    assert_error(a, 3, "no message_request");
    resp_free(a);
    q.host = "h";
    a = ask(*state, &q);
    assert_error(a, 3, "no message_request");
    assert_string_equal(a->valid_host, "h");
    resp_free(a);
}

/* Bytes that are not a ServerReflectionRequest fail the call. */
static void test_malformed(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\x0a\x05"
         "ab",
         4},                             /* host cut short */
        {"\x22\xff\xff\xff\xff\x0f", 6}, /* hostile length */
        {"\xff", 1},                     /* key cut short */
        {"\x0f", 1},                     /* wire type 7 */
        {"\x00", 1},                     /* field 0 */
        {"\x2a\x03\x0a\x01", 4},         /* nested ExtensionRequest cut */
        {"\x22\x03"
         "ab",
         4}, /* symbol cut short */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        grpc_slice out;
        struct sl_err err;
        int rc = sl_reflection_answer(*state, (const uint8_t *)cases[i].bytes,
                                      cases[i].len, &out, &err);
        if (rc != SL_EINVAL)
            fail_msg("case %zu: want EINVAL, got %s", i, sl_err_name(rc));
        assert_int_equal(GRPC_SLICE_LENGTH(out), 0);
        grpc_slice_unref(out);
    }
}

/* Unknown fields are skipped as proto3 says, and echoed back. */
static void test_unknown_fields(void **state)
{
    /* list_services = "", field 100 (varint), then file_by_filename:
     * the last oneof member on the wire wins. */
    static const uint8_t fixed[] = {0x3a, 0x00, 0xa0, 0x06, 0x01, 0x1a, 0x15,
                                    'g',  'o',  'o',  'g',  'l',  'e',  '/',
                                    'a',  'p',  'i',  '/',  'h',  't',  't',
                                    'p',  '.',  'p',  'r',  'o',  't',  'o'};
    grpc_slice out;
    struct sl_err err;
    assert_sl_ok(sl_reflection_answer(*state, fixed, sizeof(fixed), &out, &err),
                 &err);
    Resp *a = grpc__reflection__v1__server_reflection_response__unpack(
        NULL, GRPC_SLICE_LENGTH(out), GRPC_SLICE_START_PTR(out));
    assert_non_null(a);
    grpc_slice_unref(out);
    check_closure(a, "google/api/http.proto", 1);
    assert_int_equal(a->original_request->message_request_case,
                     CASE_(MESSAGE_REQUEST_FILE_BY_FILENAME));
    resp_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy),
        cmocka_unit_test(test_list_services),
        cmocka_unit_test(test_file_containing_symbol),
        cmocka_unit_test(test_leading_dot),
        cmocka_unit_test(test_unknown_symbols),
        cmocka_unit_test(test_file_by_filename),
        cmocka_unit_test(test_set_is_the_closure),
        cmocka_unit_test(test_file_containing_extension),
        cmocka_unit_test(test_all_extension_numbers),
        cmocka_unit_test(test_empty_request),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_unknown_fields),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
