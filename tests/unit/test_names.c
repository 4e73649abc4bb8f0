/* test_names.c -- the documented enum spellings, both ways */
#include "sl_test.h"

#include <string.h>

#include "modelarts/v1/service_logs.pb-c.h"
#include "names.h"

/* Every spelling maps to its value and back; the tables use the proto's
 * numbers. */
static void check_table(const struct sl_name *t, const char *const *names,
                        const int *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int v = -1;
        assert_int_equal(sl_name_value(t, names[i], strlen(names[i]), &v), 0);
        assert_int_equal(v, values[i]);
        assert_string_equal(sl_name_of(t, values[i], "?"), names[i]);
    }
    assert_null(t[n].name);
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *const infer[] = {"real-time", "edge", "batch"};
    static const int infer_v[] = {MODELARTS__V1__INFER_TYPE__REAL_TIME,
                                  MODELARTS__V1__INFER_TYPE__EDGE,
                                  MODELARTS__V1__INFER_TYPE__BATCH};
    check_table(sl_infer_type_names, infer, infer_v, 3);
    static const char *const result[] = {"SUCCESS", "FAIL", "RUNNING"};
    static const int result_v[] = {MODELARTS__V1__UPDATE_RESULT__SUCCESS,
                                   MODELARTS__V1__UPDATE_RESULT__FAIL,
                                   MODELARTS__V1__UPDATE_RESULT__RUNNING};
    check_table(sl_update_result_names, result, result_v, 3);
    static const char *const op[] = {"deploy", "delete"};
    static const int op_v[] = {MODELARTS__V1__NODE_OPERATION__DEPLOY,
                               MODELARTS__V1__NODE_OPERATION__DELETE};
    check_table(sl_node_operation_names, op, op_v, 2);
}

static void test_misses(void **state)
{
    (void)state;
    int v = 42;
    /* Exact and case-sensitive; a prefix or a longer name is no match. */
    assert_int_equal(sl_name_value(sl_update_result_names, "success", 7, &v),
                     -1);
    assert_int_equal(sl_name_value(sl_update_result_names, "SUCCES", 6, &v),
                     -1);
    assert_int_equal(sl_name_value(sl_infer_type_names, "edge\0x", 6, &v), -1);
    assert_int_equal(sl_name_value(sl_infer_type_names, "", 0, &v), -1);
    assert_int_equal(v, 42);
    assert_string_equal(sl_name_of(sl_update_result_names, 0, "UNKNOWN"),
                        "UNKNOWN");
    assert_string_equal(sl_name_of(sl_node_operation_names, 99, "unknown"),
                        "unknown");
}

static void test_grpc_codes(void **state)
{
    (void)state;
    assert_string_equal(sl_grpc_code_name(0), "OK");
    assert_string_equal(sl_grpc_code_name(8), "RESOURCE_EXHAUSTED");
    assert_string_equal(sl_grpc_code_name(16), "UNAUTHENTICATED");
    assert_string_equal(sl_grpc_code_name(17), "UNKNOWN");
    assert_string_equal(sl_grpc_code_name(-1), "UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_misses),
        cmocka_unit_test(test_grpc_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
