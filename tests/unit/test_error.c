/* test_error.c -- the error table and its mappings (DESIGN section 4) */
#include "sl_test.h"

#include <string.h>

#include <grpc/status.h>

#include "error.h"
#include "status.h"

/* Every row of DESIGN section 4 that the server produces. */
static const struct {
    int code;
    grpc_status_code grpc;
    int http;
    const char *mcode;
} rows[] = {
    {SL_EINVAL, GRPC_STATUS_INVALID_ARGUMENT, 400, "ModelArts.0101"},
    {SL_EBATCH, GRPC_STATUS_FAILED_PRECONDITION, 400, "ModelArts.2858"},
    {SL_ENOTOKEN, GRPC_STATUS_UNAUTHENTICATED, 401, "ModelArts.0201"},
    {SL_EBADTOKEN, GRPC_STATUS_UNAUTHENTICATED, 401, "ModelArts.0203"},
    {SL_EFORBIDDEN, GRPC_STATUS_PERMISSION_DENIED, 403, "ModelArts.0210"},
    {SL_ENOTFOUND, GRPC_STATUS_NOT_FOUND, 404, "ModelArts.3502"},
    {SL_ENOROUTE, GRPC_STATUS_UNIMPLEMENTED, 404, "ModelArts.0104"},
    {SL_EMETHOD, GRPC_STATUS_UNIMPLEMENTED, 405, "ModelArts.2803"},
    {SL_EOVERLOAD, GRPC_STATUS_RESOURCE_EXHAUSTED, 429, "ModelArts.2799"},
    {SL_EUNAVAIL, GRPC_STATUS_UNAVAILABLE, 503, "ModelArts.4302"},
    {SL_ETIMEOUT, GRPC_STATUS_DEADLINE_EXCEEDED, 504, "ModelArts.0010"},
    {SL_EINTERNAL, GRPC_STATUS_INTERNAL, 500, "ModelArts.0010"},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(sl_err_to_grpc(rows[i].code), rows[i].grpc);
        assert_int_equal(sl_err_to_http(rows[i].code), rows[i].http);
        assert_string_equal(sl_err_mcode(rows[i].code), rows[i].mcode);
        assert_true(rows[i].code < 0);
    }
    assert_int_equal(sl_err_to_grpc(SL_OK), GRPC_STATUS_OK);
    assert_int_equal(sl_err_to_http(SL_OK), 200);
    assert_string_equal(sl_err_name(SL_EINVAL), "EINVAL");
    assert_string_equal(sl_err_name(12345), "UNKNOWN");
    assert_int_equal(sl_err_to_http(12345), 500);
}

/* The shim's way back: (gRPC status, reason) -> the same row. */
static void test_from_grpc(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (rows[i].code == SL_EMETHOD || rows[i].code == SL_ENOROUTE)
            continue; /* HTTP-only rows, never sent over gRPC */
        int back = sl_err_from_grpc(rows[i].grpc, rows[i].mcode);
        assert_int_equal(sl_err_to_http(back), rows[i].http);
        assert_string_equal(sl_err_mcode(back), rows[i].mcode);
    }
    /* No ErrorInfo (a transport failure): the status alone decides. */
    assert_int_equal(sl_err_from_grpc(GRPC_STATUS_UNAVAILABLE, NULL),
                     SL_EUNAVAIL);
    assert_int_equal(sl_err_from_grpc(GRPC_STATUS_DEADLINE_EXCEEDED, ""),
                     SL_ETIMEOUT);
    assert_int_equal(sl_err_from_grpc(GRPC_STATUS_UNKNOWN, "ModelArts.9999"),
                     SL_EINTERNAL);
}

static void test_err_set_truncates(void **state)
{
    (void)state;
    struct sl_err err;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(sl_err_set(&err, SL_EINVAL, "%s", big), SL_EINVAL);
    assert_int_equal(err.code, SL_EINVAL);
    assert_int_equal(strlen(err.msg), SL_ERR_MSG_LEN - 1);
    assert_int_equal(sl_err_set(NULL, SL_EIO, "no crash"), SL_EIO);
}

/* grpc-status-details-bin: what the server packs, the shim reads back. */
static void test_status_details_round_trip(void **state)
{
    (void)state;
    grpc_slice s;
    assert_int_equal(
        sl_status_details_pack(SL_ENOTFOUND, "no such service", &s), SL_OK);
    char reason[32], msg[64] = "";
    sl_status_details_reason(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s),
                             reason, sizeof(reason), msg, sizeof(msg));
    assert_string_equal(reason, "ModelArts.3502");
    assert_string_equal(msg, "no such service");
    grpc_slice_unref(s);

    /* A status text already known wins over the Status message. */
    assert_int_equal(sl_status_details_pack(SL_ENOTFOUND, "packed", &s), SL_OK);
    snprintf(msg, sizeof(msg), "known");
    sl_status_details_reason(GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s),
                             reason, sizeof(reason), msg, sizeof(msg));
    assert_string_equal(reason, "ModelArts.3502");
    assert_string_equal(msg, "known");
    grpc_slice_unref(s);

    /* Hostile bytes: no reason, no crash. */
    const unsigned char junk[] = {0x1a, 0xff, 0xff, 0xff, 0x0f, 0x01};
    sl_status_details_reason(junk, sizeof(junk), reason, sizeof(reason), msg,
                             sizeof(msg));
    assert_string_equal(reason, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_from_grpc),
        cmocka_unit_test(test_err_set_truncates),
        cmocka_unit_test(test_status_details_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
