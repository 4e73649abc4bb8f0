/* test_auth.c -- tokens file parsing, project scoping, reload, and every
 * byte of a token counting */
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
        {"s3cr3t proj extra\n", "line 1: the role must be read or write"},
        {"s3cr3t proj write extra\n", "line 1: expected TOKEN PROJECT_ID"},
        {"s3cr3t proj WRITE\n", "line 1: the role must be read or write"},
        {"s3cr3t proj writer\n", "line 1: the role must be read or write"},
        {"s3cr3t proj\ns3 p rw\n", "line 2: the role must be read or write"},
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

/* The token of a table entry, one byte changed at i: flipped to another
 * visible character (never a space, so it stays one token). */
static void flip(char *tok, size_t i)
{
    tok[i] = tok[i] == 'Z' ? 'Y' : 'Z';
}

/* Every byte of a valid token counts, however late: a wrong token of the
 * same length that differs in one byte -- the first, the middle, the last,
 * or any other -- is refused, as are the valid token's prefixes and
 * extensions. A check that compared only a prefix of the token (8 bytes, a
 * word, a cache line) would let an attacker who guessed that prefix in. */
static void test_same_length_wrong_tokens_refused(void **state)
{
    (void)state;
    static const char *const toks[] = {
        "s3cr3t-0123456789-abcdefghij-KLMNOPQRST", /* 39 bytes */
        "abcdefgh9",                               /* one past 8 bytes */
        "abcdefgh",                                /* exactly 8 bytes */
        "q",                                       /* one byte */
    };
    struct sl_auth_table *t =
        parse("s3cr3t-0123456789-abcdefghij-KLMNOPQRST proj-a\n"
              "abcdefgh9 proj-a\n"
              "abcdefgh proj-b\n"
              "q proj-a\n");
    char buf[64];
    for (size_t k = 0; k < sizeof(toks) / sizeof(toks[0]); k++) {
        const char *tok = toks[k];
        size_t len = strlen(tok);
        const char *proj = k == 2 ? "proj-b" : "proj-a";
        assert_int_equal(sl_auth_table_check(t, tok, len, proj), SL_OK);
        /* one byte changed, at every position */
        for (size_t i = 0; i < len; i++) {
            memcpy(buf, tok, len);
            flip(buf, i);
            int rc = sl_auth_table_check(t, buf, len, proj);
            if (rc != SL_EBADTOKEN)
                fail_msg("token %zu with byte %zu of %zu changed: %s", k, i,
                         len, sl_err_name(rc));
        }
        /* every proper prefix (its first 8 bytes among them) */
        for (size_t n = 1; n < len; n++) {
            int rc = sl_auth_table_check(t, tok, n, proj);
            /* "abcdefgh" is itself a token (of proj-b): known, not allowed */
            int want = k == 1 && n == 8 ? SL_EFORBIDDEN : SL_EBADTOKEN;
            if (rc != want)
                fail_msg("token %zu cut to %zu bytes: %s", k, n,
                         sl_err_name(rc));
        }
        /* extensions: one more byte, a NUL and more, many more */
        memcpy(buf, tok, len);
        buf[len] = 'x';
        assert_int_equal(sl_auth_table_check(t, buf, len + 1, proj),
                         SL_EBADTOKEN);
        buf[len] = '\0';
        assert_int_equal(sl_auth_table_check(t, buf, len + 1, proj),
                         SL_EBADTOKEN);
        memset(buf + len, 'x', sizeof(buf) - len);
        assert_int_equal(sl_auth_table_check(t, buf, sizeof(buf), proj),
                         SL_EBADTOKEN);
    }
    /* named cases, as an attacker would try them */
    assert_int_equal(
        sl_auth_table_check(t, "s3cr3t-0123456789-abcdefghij-KLMNOPQRSX", 39,
                            "proj-a"),
        SL_EBADTOKEN); /* the last byte */
    assert_int_equal(
        sl_auth_table_check(t, "s3cr3t-0123456789-abcdXfghij-KLMNOPQRST", 39,
                            "proj-a"),
        SL_EBADTOKEN); /* the middle */
    assert_int_equal(
        sl_auth_table_check(t, "s3cr3t-0XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", 39,
                            "proj-a"),
        SL_EBADTOKEN); /* only the first 8 bytes right */
    assert_int_equal(sl_auth_table_check(t, "abcdefgX", 8, "proj-b"),
                     SL_EBADTOKEN); /* the last byte of an 8-byte token */
    sl_auth_table_free(t);
}

/* Two tokens that share a long prefix are two tokens: each reads only its
 * own project, through the table and through a loaded struct sl_auth. */
static void test_shared_prefix_tokens_stay_apart(void **state)
{
    (void)state;
    static const char text[] = "team-alpha-reader-0001 proj-one\n"
                               "team-alpha-reader-0002 proj-two\n";
    struct sl_auth_table *t = parse(text);
    assert_int_equal(
        sl_auth_table_check(t, "team-alpha-reader-0001", 22, "proj-one"),
        SL_OK);
    assert_int_equal(
        sl_auth_table_check(t, "team-alpha-reader-0002", 22, "proj-two"),
        SL_OK);
    assert_int_equal(
        sl_auth_table_check(t, "team-alpha-reader-0001", 22, "proj-two"),
        SL_EFORBIDDEN);
    assert_int_equal(
        sl_auth_table_check(t, "team-alpha-reader-0002", 22, "proj-one"),
        SL_EFORBIDDEN);
    assert_int_equal(
        sl_auth_table_check(t, "team-alpha-reader-0003", 22, "proj-one"),
        SL_EBADTOKEN);
    sl_auth_table_free(t);

    char path[] = "/tmp/sl-auth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, text);
    struct sl_auth *a;
    struct sl_err err;
    assert_sl_ok(sl_auth_open(path, &a, &err), &err);
    unlink(path);
    assert_int_equal(sl_auth_check(a, "team-alpha-reader-0001", 22, "proj-one"),
                     SL_OK);
    assert_int_equal(sl_auth_check(a, "team-alpha-reader-0009", 22, "proj-one"),
                     SL_EBADTOKEN);
    assert_int_equal(sl_auth_check(a, "team-alpha-reader-0001", 22, "proj-two"),
                     SL_EFORBIDDEN);
    sl_auth_destroy(a);
}

/* The longest token the file may hold, wrong only in its last byte. */
static void test_max_length_token_wrong_last_byte(void **state)
{
    (void)state;
    char *text = malloc(SL_TOKEN_MAX + 16);
    assert_non_null(text);
    for (size_t i = 0; i < SL_TOKEN_MAX; i++)
        text[i] = (char)('a' + i % 26);
    strcpy(text + SL_TOKEN_MAX, " proj\n");
    struct sl_auth_table *t = parse(text);
    assert_int_equal(sl_auth_table_check(t, text, SL_TOKEN_MAX, "proj"), SL_OK);
    for (size_t i = SL_TOKEN_MAX - 1;; i /= 2) {
        char saved = text[i];
        flip(text, i);
        int rc = sl_auth_table_check(t, text, SL_TOKEN_MAX, "proj");
        text[i] = saved;
        if (rc != SL_EBADTOKEN)
            fail_msg("byte %zu changed: %s", i, sl_err_name(rc));
        if (i == 0)
            break;
    }
    assert_int_equal(sl_auth_table_check(t, text, SL_TOKEN_MAX - 1, "proj"),
                     SL_EBADTOKEN);
    sl_auth_table_free(t);
    free(text);
}

/* Roles: read by default, write includes read, lines add up; a writer
 * call with a read-only token is SL_EREADONLY, and the other rows stay as
 * for queries. */
static void test_roles(void **state)
{
    (void)state;
    struct sl_auth_table *t = parse("reader proj-a\n"
                                    "reader2 proj-a read\n"
                                    "writer proj-a write\n"
                                    "writer proj-b\n"
                                    "mixed proj-c read\n"
                                    "mixed\tproj-c\twrite \r\n"
                                    "w-other proj-z write\n");
    assert_int_equal(sl_auth_table_size(t), 7);
    static const struct {
        const char *tok, *proj;
        unsigned role;
        int want;
    } cases[] = {
        {"reader", "proj-a", SL_AUTH_READ, SL_OK},
        {"reader", "proj-a", SL_AUTH_WRITE, SL_EREADONLY},
        {"reader2", "proj-a", SL_AUTH_WRITE, SL_EREADONLY},
        {"writer", "proj-a", SL_AUTH_READ, SL_OK}, /* write includes read */
        {"writer", "proj-a", SL_AUTH_WRITE, SL_OK},
        {"writer", "proj-b", SL_AUTH_READ, SL_OK},
        {"writer", "proj-b", SL_AUTH_WRITE, SL_EREADONLY}, /* per project */
        {"writer", "proj-c", SL_AUTH_WRITE, SL_EFORBIDDEN},
        {"reader", "proj-b", SL_AUTH_WRITE, SL_EFORBIDDEN},
        {"mixed", "proj-c", SL_AUTH_WRITE, SL_OK}, /* lines add up */
        {"w-other", "proj-a", SL_AUTH_WRITE, SL_EFORBIDDEN},
        {"nobody", "proj-a", SL_AUTH_WRITE, SL_EBADTOKEN},
        {"", "proj-a", SL_AUTH_WRITE, SL_ENOTOKEN},
        /* same length, differing in the last byte: unknown, not readonly */
        {"writeR", "proj-a", SL_AUTH_WRITE, SL_EBADTOKEN},
        {"readeR", "proj-a", SL_AUTH_READ, SL_EBADTOKEN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = sl_auth_table_check_role(t, cases[i].tok, strlen(cases[i].tok),
                                          cases[i].proj, cases[i].role);
        if (rc != cases[i].want)
            fail_msg("case %zu (%s on %s as %s): %s, want %s", i, cases[i].tok,
                     cases[i].proj,
                     cases[i].role == SL_AUTH_READ ? "read" : "write",
                     sl_err_name(rc), sl_err_name(cases[i].want));
    }
    /* the read check never says readonly */
    assert_int_equal(sl_auth_table_check(t, "reader", 6, "proj-a"), SL_OK);

    /* A long write token wrong only late, same length: refused. */
    static const char tok[] = "ctl-writer-0123456789-abcdefghijklmnopqrstuvwx";
    char text[128];
    snprintf(text, sizeof(text), "%s proj-w write\n", tok);
    sl_auth_table_free(t);
    t = parse(text);
    char buf[sizeof(tok)];
    memcpy(buf, tok, sizeof(tok));
    assert_int_equal(
        sl_auth_table_check_role(t, buf, strlen(buf), "proj-w", SL_AUTH_WRITE),
        SL_OK);
    for (size_t i = strlen(tok) - 4; i < strlen(tok); i++) {
        memcpy(buf, tok, sizeof(tok));
        flip(buf, i);
        assert_int_equal(sl_auth_table_check_role(t, buf, strlen(buf), "proj-w",
                                                  SL_AUTH_WRITE),
                         SL_EBADTOKEN);
    }
    sl_auth_table_free(t);
}

/* A reload can take the write role away (and give it). */
static void test_reload_changes_roles(void **state)
{
    (void)state;
    char path[] = "/tmp/sl-auth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "ctl p1 write\n");
    struct sl_auth *a;
    struct sl_err err;
    assert_sl_ok(sl_auth_open(path, &a, &err), &err);
    assert_int_equal(sl_auth_check_role(a, "ctl", 3, "p1", SL_AUTH_WRITE),
                     SL_OK);
    write_file(path, "ctl p1\n");
    assert_sl_ok(sl_auth_reload(a, &err), &err);
    assert_int_equal(sl_auth_check_role(a, "ctl", 3, "p1", SL_AUTH_WRITE),
                     SL_EREADONLY);
    assert_int_equal(sl_auth_check(a, "ctl", 3, "p1"), SL_OK);
    /* a bad role keeps the old table */
    write_file(path, "ctl p1 admin\n");
    assert_int_equal(sl_auth_reload(a, &err), SL_EFORMAT);
    assert_non_null(strstr(err.msg, "line 1: the role must be read or write"));
    assert_null(strstr(err.msg, "ctl"));
    assert_int_equal(sl_auth_check_role(a, "ctl", 3, "p1", SL_AUTH_WRITE),
                     SL_EREADONLY);
    unlink(path);
    sl_auth_destroy(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_check),
        cmocka_unit_test(test_bad_files_name_the_line),
        cmocka_unit_test(test_open_and_reload),
        cmocka_unit_test(test_same_length_wrong_tokens_refused),
        cmocka_unit_test(test_shared_prefix_tokens_stay_apart),
        cmocka_unit_test(test_max_length_token_wrong_last_byte),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_reload_changes_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
