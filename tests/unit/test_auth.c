/* test_auth.c -- tokens file parsing, project scoping, reload */
#include "sl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

static struct sl_auth_table *parse(const char *text)
{
    struct sl_auth_table *t;
    struct sl_err err;
    assert_sl_ok(sl_auth_table_parse(text, strlen(text), &t, &err), &err);
    return t;
}

static void test_parse_and_check(void **state)
{
    (void)state;
    struct sl_auth_table *t = parse("# team tokens\n"
                                    "\n"
                                    "tok-a   proj-a\n"
                                    "tok-a\tproj-b\r\n"
                                    "  tok-c proj-c   \n"
                                    "tok-d proj-d"); /* no final newline */
    assert_int_equal(sl_auth_table_size(t), 4);
    assert_int_equal(sl_auth_table_check(t, "tok-a", 5, "proj-a"), SL_OK);
    assert_int_equal(sl_auth_table_check(t, "tok-a", 5, "proj-b"), SL_OK);
    assert_int_equal(sl_auth_table_check(t, "tok-c", 5, "proj-c"), SL_OK);
    assert_int_equal(sl_auth_table_check(t, "tok-d", 5, "proj-d"), SL_OK);
    /* a known token, another project */
    assert_int_equal(sl_auth_table_check(t, "tok-a", 5, "proj-c"),
                     SL_EFORBIDDEN);
    /* prefixes, extensions and case are different tokens */
    assert_int_equal(sl_auth_table_check(t, "tok-", 4, "proj-a"), SL_EBADTOKEN);
    assert_int_equal(sl_auth_table_check(t, "tok-aa", 6, "proj-a"),
                     SL_EBADTOKEN);
    assert_int_equal(sl_auth_table_check(t, "TOK-A", 5, "proj-a"),
                     SL_EBADTOKEN);
    assert_int_equal(sl_auth_table_check(t, "", 0, "proj-a"), SL_ENOTOKEN);
    sl_auth_table_free(t);

    t = parse("# nothing but comments\n\n");
    assert_int_equal(sl_auth_table_size(t), 0);
    assert_int_equal(sl_auth_table_check(t, "x", 1, "p"), SL_EBADTOKEN);
    sl_auth_table_free(t);
}

static void test_bad_files_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"s3cr3t proj\ns3cr3t\n", "line 2: expected TOKEN PROJECT_ID"},
        {"s3cr3t proj extra\n", "line 1: expected TOKEN PROJECT_ID"},
        {"s3cr3t bad.project\n", "line 1: project id must be"},
        {"s3\x01cr3t proj\n", "line 1: the token has a character"},
        {"s3cr3t\xc3\xa9 proj\n", "line 1: the token has a character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sl_auth_table *t = (void *)1;
        struct sl_err err;
        int rc =
            sl_auth_table_parse(cases[i].text, strlen(cases[i].text), &t, &err);
        if (rc != SL_EFORMAT || !strstr(err.msg, cases[i].want) || t)
            fail_msg("case %zu: rc %d msg '%s'", i, rc, err.msg);
        /* the error never quotes a token */
        assert_null(strstr(err.msg, "s3"));
    }
    char *big = malloc(SL_TOKEN_MAX + 16);
    memset(big, 'x', SL_TOKEN_MAX + 1);
    strcpy(big + SL_TOKEN_MAX + 1, " p\n");
    struct sl_auth_table *t;
    struct sl_err err;
    assert_int_equal(sl_auth_table_parse(big, strlen(big), &t, &err),
                     SL_EFORMAT);
    assert_non_null(strstr(err.msg, "longer than"));
    free(big);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_open_and_reload(void **state)
{
    (void)state;
    char path[] = "/tmp/sl-auth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "old-token p1\n");
    struct sl_auth *a;
    struct sl_err err;
    assert_sl_ok(sl_auth_open(path, &a, &err), &err);
    assert_int_equal(sl_auth_check(a, "old-token", 9, "p1"), SL_OK);

    write_file(path, "new-token p1\nnew-token p2\n");
    assert_sl_ok(sl_auth_reload(a, &err), &err);
    assert_int_equal(sl_auth_check(a, "old-token", 9, "p1"), SL_EBADTOKEN);
    assert_int_equal(sl_auth_check(a, "new-token", 9, "p2"), SL_OK);

    /* a bad file keeps the old table, and says which line */
    write_file(path, "new-token p1\nbroken\n");
    assert_int_equal(sl_auth_reload(a, &err), SL_EFORMAT);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_int_equal(sl_auth_check(a, "new-token", 9, "p2"), SL_OK);

    /* a missing file too */
    unlink(path);
    assert_int_equal(sl_auth_reload(a, &err), SL_EIO);
    assert_int_equal(sl_auth_check(a, "new-token", 9, "p1"), SL_OK);
    sl_auth_destroy(a);

    assert_int_equal(sl_auth_open(path, &a, &err), SL_EIO);
    assert_null(a);
    assert_non_null(strstr(err.msg, path));
    sl_auth_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_check),
        cmocka_unit_test(test_bad_files_name_the_line),
        cmocka_unit_test(test_open_and_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
