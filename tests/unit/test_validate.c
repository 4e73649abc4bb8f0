/* test_validate.c -- id and update_time validation, table-driven */
#include "sl_test.h"

#include <string.h>

#include "validate.h"

static void test_ids(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        size_t len; /* 0: strlen */
        bool ok;
    } cases[] = {
        {"a", 0, true},
        {"demo-project", 0, true},
        {"A_b-9", 0, true},
        {"0123456789012345678901234567890123456789012345678901234567890123", 0,
         true}, /* 64 */
        {"01234567890123456789012345678901234567890123456789012345678901234", 0,
         false}, /* 65 */
        {"", 0, false},
        {"a b", 0, false},
        {"a/b", 0, false},
        {"a.b", 0, false},
        {"a%2Fb", 0, false},
        {"\xc3\xa9", 0, false},
        {"ab\0cd", 5, false}, /* embedded NUL */
        {"a\n", 0, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].id);
        if (sl_id_valid(cases[i].id, len) != cases[i].ok)
            fail_msg("case %zu (%s): want %d", i, cases[i].id, cases[i].ok);
    }
    assert_false(sl_id_valid(NULL, 3));
}

static void test_query(void **state)
{
    (void)state;
    struct sl_err err;
    assert_sl_ok(sl_validate_query("p", 1, "s", 1, 0, &err), &err);
    assert_sl_ok(sl_validate_query("p", 1, "s", 1, INT64_MAX, &err), &err);
    assert_sl_err(sl_validate_query("", 0, "s", 1, 0, &err), SL_EINVAL, &err);
    assert_non_null(strstr(err.msg, "project_id"));
    assert_sl_err(sl_validate_query("p", 1, "s!", 2, 0, &err), SL_EINVAL, &err);
    assert_non_null(strstr(err.msg, "service_id"));
    assert_sl_err(sl_validate_query("p", 1, "s", 1, -1, &err), SL_EINVAL, &err);
    assert_non_null(strstr(err.msg, "update_time"));
}

static void test_update_time(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int rc;
        int64_t v;
    } cases[] = {
        {"0", SL_OK, 0},
        {"123432423", SL_OK, 123432423},
        {"9223372036854775807", SL_OK, INT64_MAX},
        {"9223372036854775808", SL_EINVAL, 0},
        {"99999999999999999999", SL_EINVAL, 0},
        {"", SL_EINVAL, 0},
        {"-1", SL_EINVAL, 0},
        {"+1", SL_EINVAL, 0},
        {" 1", SL_EINVAL, 0},
        {"1 ", SL_EINVAL, 0},
        {"1e3", SL_EINVAL, 0},
        {"0x10", SL_EINVAL, 0},
        {"12a", SL_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_err err;
        int64_t v = 42;
        int rc = sl_parse_update_time(cases[i].s, &v, &err);
        if (rc != cases[i].rc || v != cases[i].v)
            fail_msg("case '%s': rc %d v %lld", cases[i].s, rc, (long long)v);
    }
    int64_t v;
    assert_int_equal(sl_parse_update_time(NULL, &v, NULL), SL_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_update_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
