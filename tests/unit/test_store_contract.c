/* test_store_contract.c -- the storage contract, run against every backend
 *
 * One table of cases (contract_cases) x one table of backends (backends):
 * every case runs against every backend through the vtable, as SQLite runs
 * one test suite against every VFS. A new backend is one row in backends;
 * cases a backend cannot support (it has no way to make an import fail
 * half-way) are skipped for it, not dropped. Backend-specific cases
 * (sqlite_cases, pg_cases) form their own groups.
 *
 * PostgreSQL: when the build has the backend (SL_WITH_PG), its row runs
 * against the server SL_TEST_PG_URI names (scripts/test.sh starts one with
 * scripts/pg-test-server.sh), each case in a fresh schema of its own
 * (options=-csearch_path), dropped afterwards. Without SL_TEST_PG_URI the
 * postgres cases are skipped (its make() says so), and the suite prints
 * "skipped: SL_TEST_PG_URI unset (PostgreSQL cases)" so that a plain
 * ctest still passes on the other backends without hiding the gap.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef SL_WITH_PG
#include <libpq-fe.h>
#endif

#include "sl_test.h"

#include "modelarts/v1/service_logs.pb-c.h"
#include "store.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REAL_TIME MODELARTS__V1__INFER_TYPE__REAL_TIME
#define EDGE MODELARTS__V1__INFER_TYPE__EDGE
#define BATCH MODELARTS__V1__INFER_TYPE__BATCH

struct fixture;

/* One backend under test. */
struct backend {
    const char *name;
    /* Fills f->uri with a fresh, empty storage; false to skip the backend
     * (e.g. no server configured). */
    bool (*make)(struct fixture *f);
    /* Removes what make() created (all connections are closed). */
    void (*destroy)(struct fixture *f);
    /* Makes every later import that writes service_id fail half-way (after
     * earlier services of the same import are written); NULL when the
     * backend has no way to, and the atomicity case is skipped. */
    void (*break_import)(struct fixture *f, const char *service_id);
    /* v4: true when the feed drops the changes older than the newest
     * SL_STORE_FEED_KEEP by the time SL_STORE_FEED_KEEP + 2000 more are
     * committed (the pruning case then expects `lost`; either way it
     * checks that nothing within the newest SL_STORE_FEED_KEEP is). */
    bool prunes;
    /* v4: damages the stored change with that seq so that its check
     * fails; NULL when the backend stores nothing it could check. */
    void (*corrupt_change)(struct fixture *f, int64_t seq);
};

struct fixture {
    const struct backend *be;
    char uri[300];
    char path[256];  /* the sqlite file, "" for other backends */
    char schema[64]; /* the postgres schema, "" for other backends */
    struct sl_store *st;
};

/* ---- backends ----------------------------------------------------------- */

static bool sqlite_make(struct fixture *f)
{
    strcpy(f->path, "/tmp/sl_contract_XXXXXX");
    int fd = mkstemp(f->path); /* an empty file is an empty database */
    assert_true(fd >= 0);
    close(fd);
    snprintf(f->uri, sizeof(f->uri), "sqlite:%s", f->path);
    return true;
}

static void sqlite_destroy(struct fixture *f)
{
    char p[300];
    unlink(f->path);
    snprintf(p, sizeof(p), "%s-wal", f->path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
}

/* Runs sql on the test's own connection to the fixture's file. */
static void sqlite_exec(struct fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 2000);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void sqlite_break_import(struct fixture *f, const char *service_id)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "CREATE TRIGGER sl_test_poison BEFORE INSERT ON logs"
             " WHEN NEW.service_id = '%s'"
             " BEGIN SELECT RAISE(ABORT, 'poisoned by the test'); END",
             service_id);
    sqlite_exec(f, sql);
}

static void sqlite_corrupt_change(struct fixture *f, int64_t seq)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "UPDATE changes SET body = CAST(x'6a' || substr(body, 2) AS BLOB)"
             " WHERE seq = %lld",
             (long long)seq);
    sqlite_exec(f, sql);
}

static bool memory_make(struct fixture *f)
{
    strcpy(f->uri, "memory:");
    f->path[0] = '\0';
    return true;
}

static void memory_destroy(struct fixture *f)
{
    (void)f; /* the table went with the last connection */
}

#ifdef SL_WITH_PG
/* The server the postgres cases run against; NULL when none is given
 * (then pg_make skips every postgres case). */
static const char *pg_base_uri(void)
{
    const char *uri = getenv("SL_TEST_PG_URI");
    return uri && *uri ? uri : NULL;
}

static void pg_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* NOTICEs: "schema ... does not exist, skipping" */
}

/* A connection of the test's own to SL_TEST_PG_URI. */
static PGconn *pg_admin(void)
{
    const char *base = pg_base_uri();
    if (!base)
        fail_msg("SL_TEST_PG_URI is unset"); /* pg_make skipped the case */
    PGconn *c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("SL_TEST_PG_URI: %s", PQerrorMessage(c));
    PQsetNoticeProcessor(c, pg_quiet, NULL);
    return c;
}

/* Runs sql on c, which must succeed; returns its rows' first column, each
 * followed by '|', in out (when not NULL). */
static void pg_run(PGconn *c, const char *sql, char *out, size_t size)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    if (out) {
        out[0] = '\0';
        for (int i = 0; i < PQntuples(r); i++) {
            size_t len = strlen(out);
            snprintf(out + len, size - len, "%s|", PQgetvalue(r, i, 0));
        }
    }
    PQclear(r);
}

/* pg_run on a new connection with search_path set to f's schema. */
static void pg_sql(struct fixture *f, const char *sql, char *out, size_t size)
{
    char set[128];
    PGconn *c = pg_admin();
    snprintf(set, sizeof(set), "SET search_path = %s", f->schema);
    pg_run(c, set, NULL, 0);
    pg_run(c, sql, out, size);
    PQfinish(c);
}

static bool pg_make(struct fixture *f)
{
    static atomic_uint counter;
    const char *base = pg_base_uri();
    char sql[256];
    if (!base)
        return false; /* main() printed the skipped line */
    snprintf(f->schema, sizeof(f->schema), "sl_contract_%d_%u", (int)getpid(),
             atomic_fetch_add(&counter, 1));
    f->path[0] = '\0';
    /* application_name too: test_pg_reconnect finds the sessions by it. */
    snprintf(f->uri, sizeof(f->uri),
             "%s%coptions=-csearch_path%%3D%s&application_name=%s", base,
             strchr(base, '?') ? '&' : '?', f->schema, f->schema);
    PGconn *c = pg_admin();
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", f->schema);
    pg_run(c, sql, NULL, 0);
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
    pg_run(c, sql, NULL, 0);
    PQfinish(c);
    return true;
}

static void pg_destroy(struct fixture *f)
{
    char sql[128];
    PGconn *c = pg_admin();
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
    pg_run(c, sql, NULL, 0);
    PQfinish(c);
}

static void pg_corrupt_change(struct fixture *f, int64_t seq)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "UPDATE changes SET body = overlay(body placing '\\x6a'::bytea"
             " from 1 for 1) WHERE seq = %lld",
             (long long)seq);
    pg_sql(f, sql, NULL, 0);
}

static void pg_break_import(struct fixture *f, const char *service_id)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE FUNCTION sl_test_poison() RETURNS trigger"
             " LANGUAGE plpgsql AS"
             " $$BEGIN RAISE EXCEPTION 'poisoned by the test'; END$$;"
             "CREATE TRIGGER sl_test_poison BEFORE INSERT ON logs"
             " FOR EACH ROW WHEN (NEW.service_id = '%s')"
             " EXECUTE FUNCTION sl_test_poison()",
             service_id);
    pg_sql(f, sql, NULL, 0);
}
#endif

static const struct backend backends[] = {
    {"sqlite", sqlite_make, sqlite_destroy, sqlite_break_import, true,
     sqlite_corrupt_change},
    {"memory", memory_make, memory_destroy, NULL, true, NULL},
#ifdef SL_WITH_PG
    {"postgres", pg_make, pg_destroy, pg_break_import, true, pg_corrupt_change},
#endif
};

/* ---- fixtures and helpers ----------------------------------------------- */

static int setup(void **state)
{
    const struct backend *be = *state;
    struct sl_err err;
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->be = be;
    if (!be->make(f)) {
        free(f);
        *state = NULL;
        return 0;
    }
    assert_sl_ok(sl_store_open(f->uri, &f->st, &err), &err);
    assert_string_equal(f->st->type->name, be->name);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f) {
        sl_store_close(f->st);
        f->be->destroy(f);
        free(f);
    }
    return 0;
}

static struct fixture *fixture_of(void **state)
{
    if (!*state)
        skip();
    return *state;
}

static struct sl_import_log L(int64_t t, const char *body) {
    struct sl_import_log l = {t, {(const uint8_t *)body, strlen(body)}};
    return l;
}

static struct sl_import_service
S(const char *project_id, const char *service_id, const char *name,
  int infer_type, const struct sl_import_log *logs, size_t n) {
    struct sl_import_service s = {project_id, service_id, name,
                                  infer_type, n,          logs};
    return s;
}

static void
import_ok(struct sl_store *st, const struct sl_import_service *s, size_t n)
{
    struct sl_err err;
    assert_sl_ok(sl_store_import(st, s, n, &err), &err);
}

/* Queries and compares with the expected name and bodies (text). */
static void expect_query(struct sl_store *st, const char *project_id,
                         const char *service_id, int64_t update_time,
                         const char *name, int infer_type,
                         const char *const *bodies, size_t n)
{
    struct sl_log_query q = {project_id, service_id, update_time, 0};
    struct sl_log_page pg;
    struct sl_err err;
    assert_sl_ok(sl_store_query_logs(st, &q, &pg, &err), &err);
    assert_string_equal(pg.service_id, service_id);
    assert_string_equal(pg.service_name, name);
    assert_int_equal(pg.infer_type, infer_type);
    assert_int_equal(pg.n_logs, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(bodies[i]);
        if (pg.logs[i].len != len ||
            memcmp(pg.logs[i].data, bodies[i], len) != 0)
            fail_msg("%s/%s log %zu: want \"%s\", got \"%.*s\"", project_id,
                     service_id, i, bodies[i], (int)pg.logs[i].len,
                     (const char *)pg.logs[i].data);
    }
    sl_log_page_free(&pg);
}

static void expect_not_found(struct sl_store *st, const char *project_id,
                             const char *service_id)
{
    struct sl_log_query q = {project_id, service_id, 0, 0};
    struct sl_log_page pg;
    struct sl_err err;
    assert_sl_err(sl_store_query_logs(st, &q, &pg, &err), SL_ENOTFOUND, &err);
    assert_int_equal(pg.n_logs, 0);
    assert_null(pg.logs);
    sl_log_page_free(&pg);
}

/* ---- the contract ------------------------------------------------------- */

static void test_open_ping_close(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *second = NULL;
    struct sl_err err;
    assert_sl_ok(sl_store_ping(f->st, &err), &err);
    assert_sl_ok(sl_store_open(f->uri, &second, &err), &err);
    assert_sl_ok(sl_store_ping(second, &err), &err);
    sl_store_close(second);
    f->st->type->close(NULL); /* the slot itself accepts NULL */
    sl_store_close(NULL);
}

/* v3: the registry finds the backend by its name and by each alias (and
 * opens it through one), and describes its URI as "NAME:...". */
static void test_type_registry_fields(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_store_type *t = f->st->type;
    size_t len = strlen(t->name);
    assert_true(t->version >= 3);
    assert_ptr_equal(sl_store_find(t->name), t);
    assert_non_null(t->uri_form);
    assert_memory_equal(t->uri_form, t->name, len);
    assert_int_equal(t->uri_form[len], ':');
    for (const char *const *a = t->aliases; a && *a; a++) {
        char uri[320];
        struct sl_store *st = NULL;
        struct sl_err err;
        assert_ptr_equal(sl_store_find(*a), t);
        snprintf(uri, sizeof(uri), "%s%s", *a, strchr(f->uri, ':'));
        assert_sl_ok(sl_store_open(uri, &st, &err), &err);
        assert_ptr_equal(st->type, t);
        assert_sl_ok(sl_store_ping(st, &err), &err);
        sl_store_close(st);
    }
}

static void test_not_found(void **state)
{
    struct fixture *f = fixture_of(state);
    expect_not_found(f->st, "p1", "nope");
}

static void test_order_oldest_first_ties_in_file_order(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(30, "c1"), L(10, "a1"), L(20, "b1"),
                                         L(10, "a2"), L(30, "c2"), L(10, "a3")};
    struct sl_import_service s =
        S("p1", "svc", "mnist", REAL_TIME, logs, N(logs));
    import_ok(f->st, &s, 1);
    const char *want[] = {"a1", "a2", "a3", "b1", "c1", "c2"};
    expect_query(f->st, "p1", "svc", 0, "mnist", REAL_TIME, want, N(want));
}

static void test_update_time_filter(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(30, "c1"), L(10, "a1"), L(20, "b1"),
                                         L(10, "a2")};
    struct sl_import_service s = S("p1", "svc", "det", EDGE, logs, N(logs));
    import_ok(f->st, &s, 1);
    const char *at10[] = {"a1", "a2"}, *at30[] = {"c1"};
    expect_query(f->st, "p1", "svc", 10, "det", EDGE, at10, N(at10));
    expect_query(f->st, "p1", "svc", 30, "det", EDGE, at30, N(at30));
    /* No log at that time: the service is found, with no logs. */
    expect_query(f->st, "p1", "svc", 15, "det", EDGE, NULL, 0);
    expect_query(f->st, "p1", "svc", INT64_MAX, "det", EDGE, NULL, 0);
}

static void test_service_without_logs(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_import_service s = S("p1", "svc", "batchy", BATCH, NULL, 0);
    import_ok(f->st, &s, 1);
    expect_query(f->st, "p1", "svc", 0, "batchy", BATCH, NULL, 0);
}

static void test_binary_bodies_round_trip(void **state)
{
    struct fixture *f = fixture_of(state);
    static uint8_t big[100000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    const uint8_t nul[] = {0, 1, 0, 255};
    const struct sl_import_log logs[] = {{1, {nul, sizeof(nul)}},
                                         {2, {big, sizeof(big)}}};
    struct sl_import_service s = S("p1", "svc", "bin", EDGE, logs, N(logs));
    import_ok(f->st, &s, 1);
    struct sl_log_query q = {"p1", "svc", 0, 0};
    struct sl_log_page pg;
    struct sl_err err;
    assert_sl_ok(sl_store_query_logs(f->st, &q, &pg, &err), &err);
    assert_int_equal(pg.n_logs, 2);
    assert_int_equal(pg.logs[0].len, sizeof(nul));
    assert_memory_equal(pg.logs[0].data, nul, sizeof(nul));
    assert_int_equal(pg.logs[1].len, sizeof(big));
    assert_memory_equal(pg.logs[1].data, big, sizeof(big));
    sl_log_page_free(&pg);
}

static void test_reimport_replaces_and_is_idempotent(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log five[] = {
        L(1, "v1-1"), L(2, "v1-2"), L(3, "v1-3"), L(4, "v1-4"), L(5, "v1-5")};
    const struct sl_import_log two[] = {L(9, "v2-b"), L(7, "v2-a")};
    struct sl_import_service a[] = {
        S("p1", "svc", "first", REAL_TIME, five, N(five)),
        S("p1", "other", "other", EDGE, two, N(two)),
    };
    import_ok(f->st, a, N(a));
    import_ok(f->st, a, N(a)); /* same set again: same state */
    const char *want5[] = {"v1-1", "v1-2", "v1-3", "v1-4", "v1-5"};
    const char *want2[] = {"v2-a", "v2-b"};
    expect_query(f->st, "p1", "svc", 0, "first", REAL_TIME, want5, 5);
    expect_query(f->st, "p1", "other", 0, "other", EDGE, want2, 2);

    /* Fewer logs, new name and type: all replaced; "other" untouched. */
    struct sl_import_service b = S("p1", "svc", "second", EDGE, two, N(two));
    import_ok(f->st, &b, 1);
    expect_query(f->st, "p1", "svc", 0, "second", EDGE, want2, 2);
    expect_query(f->st, "p1", "svc", 1, "second", EDGE, NULL, 0);
    expect_query(f->st, "p1", "other", 0, "other", EDGE, want2, 2);
}

static void test_duplicate_in_one_import_last_wins(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log x[] = {L(1, "x")}, y[] = {L(2, "y")};
    struct sl_import_service a[] = {
        S("p1", "svc", "one", EDGE, x, 1),
        S("p1", "svc", "two", EDGE, y, 1),
    };
    import_ok(f->st, a, N(a));
    const char *want[] = {"y"};
    expect_query(f->st, "p1", "svc", 0, "two", EDGE, want, 1);
}

static void test_empty_import(void **state)
{
    struct fixture *f = fixture_of(state);
    import_ok(f->st, NULL, 0);
    expect_not_found(f->st, "p1", "svc");
}

static void test_failed_import_changes_nothing(void **state)
{
    struct fixture *f = fixture_of(state);
    if (!f->be->break_import)
        skip();
    const struct sl_import_log v1[] = {L(1, "one"), L(2, "two"), L(3, "three")};
    const struct sl_import_log v2[] = {L(5, "new")};
    struct sl_import_service first = S("p1", "svc", "old", REAL_TIME, v1, 3);
    import_ok(f->st, &first, 1);

    f->be->break_import(f, "poison");
    struct sl_import_service next[] = {
        S("p1", "svc", "new", EDGE, v2, 1),     /* written first, */
        S("p1", "fresh", "fresh", EDGE, v2, 1), /* and this, */
        S("p1", "poison", "bad", EDGE, v2, 1),  /* then this fails */
    };
    struct sl_err err;
    int rc = sl_store_import(f->st, next, N(next), &err);
    assert_int_not_equal(rc, SL_OK);
    assert_non_null(strstr(err.msg, "nothing changed"));

    const char *want[] = {"one", "two", "three"};
    expect_query(f->st, "p1", "svc", 0, "old", REAL_TIME, want, 3);
    expect_not_found(f->st, "p1", "fresh");
    expect_not_found(f->st, "p1", "poison");
    /* A second connection sees the same. */
    struct sl_store *other;
    assert_sl_ok(sl_store_open(f->uri, &other, &err), &err);
    expect_query(other, "p1", "svc", 0, "old", REAL_TIME, want, 3);
    sl_store_close(other);
    /* The connection still works. */
    import_ok(f->st, next, 2);
    const char *want2[] = {"new"};
    expect_query(f->st, "p1", "svc", 0, "new", EDGE, want2, 1);
}

static void test_projects_are_isolated(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log a[] = {L(1, "a")}, b[] = {L(1, "b")};
    struct sl_import_service s[] = {
        S("proj-a", "svc", "in a", REAL_TIME, a, 1),
        S("proj-b", "svc", "in b", EDGE, b, 1),
    };
    import_ok(f->st, s, N(s));
    const char *wa[] = {"a"}, *wb[] = {"b"};
    expect_query(f->st, "proj-a", "svc", 0, "in a", REAL_TIME, wa, 1);
    expect_query(f->st, "proj-b", "svc", 0, "in b", EDGE, wb, 1);
    expect_not_found(f->st, "proj-c", "svc");
    expect_not_found(f->st, "proj", "a-svc"); /* no key concatenation */
}

/* v2: count_services counts services (with or without logs), not logs. */
static void test_count_services(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_err err;
    size_t n = 99;
    assert_sl_ok(sl_store_count_services(f->st, &n, &err), &err);
    assert_int_equal(n, 0);
    const struct sl_import_log logs[] = {L(1, "a"), L(2, "b")};
    struct sl_import_service s[] = {
        S("p1", "svc", "one", REAL_TIME, logs, N(logs)),
        S("p2", "svc", "two", BATCH, NULL, 0),
    };
    import_ok(f->st, s, N(s));
    assert_sl_ok(sl_store_count_services(f->st, &n, &err), &err);
    assert_int_equal(n, 2);
    import_ok(f->st, s, N(s)); /* re-import: still two */
    assert_sl_ok(sl_store_count_services(f->st, &n, &err), &err);
    assert_int_equal(n, 2);
}

static void test_import_visible_to_other_connections(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *reader;
    struct sl_err err;
    assert_sl_ok(sl_store_open(f->uri, &reader, &err), &err);
    expect_not_found(reader, "p1", "svc");
    const struct sl_import_log logs[] = {L(1, "x")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, 1);
    import_ok(f->st, &s, 1);
    const char *want[] = {"x"};
    expect_query(reader, "p1", "svc", 0, "n", EDGE, want, 1);
    sl_store_close(reader);
}

#define MANY 1000

static void test_many_services(void **state)
{
    struct fixture *f = fixture_of(state);
    static char ids[MANY][2][16];
    static char bodies[MANY][4][24];
    static struct sl_import_log logs[MANY][4];
    static struct sl_import_service svcs[MANY];
    for (size_t i = 0; i < MANY; i++) {
        snprintf(ids[i][0], sizeof(ids[i][0]), "p%zu", i % 3);
        snprintf(ids[i][1], sizeof(ids[i][1]), "svc-%zu", i);
        for (size_t j = 0; j < i % 4; j++) {
            snprintf(bodies[i][j], sizeof(bodies[i][j]), "s%zu-l%zu", i, j);
            logs[i][j] = L((int64_t)(100 - j), bodies[i][j]);
        }
        svcs[i] = S(ids[i][0], ids[i][1], ids[i][1], EDGE, logs[i], i % 4);
    }
    import_ok(f->st, svcs, MANY);
    for (size_t i = 0; i < MANY; i++) {
        const char *want[4];
        size_t n = i % 4;
        for (size_t j = 0; j < n; j++)
            want[j] = bodies[i][n - 1 - j]; /* times descend in the file */
        expect_query(f->st, ids[i][0], ids[i][1], 0, ids[i][1], EDGE, want, n);
    }
    expect_not_found(f->st, "p0", "svc-1"); /* svc-1 is in p1 */
}

/* Readers on their own connections while imports swap between two
 * versions of a service: every read sees one whole version. */
struct reader_arg {
    const char *uri;
    atomic_bool *stop;
    atomic_int bad; /* reads that saw a mix, or failed */
    atomic_int reads;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    struct sl_store *st;
    struct sl_err err;
    if (sl_store_open(a->uri, &st, &err) != SL_OK) {
        atomic_fetch_add(&a->bad, 1);
        return NULL;
    }
    struct sl_log_query q = {"p1", "svc", 0, 0};
    while (!atomic_load(a->stop)) {
        struct sl_log_page pg;
        if (sl_store_query_logs(st, &q, &pg, &err) != SL_OK) {
            atomic_fetch_add(&a->bad, 1);
            continue;
        }
        char want = strcmp(pg.service_name, "alpha") == 0 ? 'A' : 'B';
        bool ok = pg.n_logs == (want == 'A' ? 3u : 5u);
        for (size_t i = 0; ok && i < pg.n_logs; i++)
            ok = pg.logs[i].len == 2 && pg.logs[i].data[0] == (uint8_t)want &&
                 pg.logs[i].data[1] == (uint8_t)('0' + i);
        if (!ok)
            atomic_fetch_add(&a->bad, 1);
        atomic_fetch_add(&a->reads, 1);
        sl_log_page_free(&pg);
    }
    sl_store_close(st);
    return NULL;
}

static void test_readers_see_whole_imports(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log a[] = {L(1, "A0"), L(2, "A1"), L(3, "A2")};
    const struct sl_import_log b[] = {L(1, "B0"), L(1, "B1"), L(2, "B2"),
                                      L(3, "B3"), L(4, "B4")};
    struct sl_import_service va = S("p1", "svc", "alpha", EDGE, a, N(a));
    struct sl_import_service vb = S("p1", "svc", "beta", EDGE, b, N(b));
    import_ok(f->st, &va, 1);

    atomic_bool stop = false;
    struct reader_arg arg = {f->uri, &stop, 0, 0};
    pthread_t t[4];
    for (size_t i = 0; i < N(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, reader_main, &arg), 0);
    for (int i = 0; i < 60; i++)
        import_ok(f->st, i % 2 ? &va : &vb, 1);
    while (atomic_load(&arg.reads) < 100)
        usleep(1000);
    atomic_store(&stop, true);
    for (size_t i = 0; i < N(t); i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&arg.bad), 0);
}

/* Two connections importing two versions of one service at the same time,
 * while a third reads: every import replaces the whole service, so every
 * read sees one of the versions, never a mix of both. */
struct importer_arg {
    const char *uri;
    const struct sl_import_service *svc;
    atomic_int *bad;
    atomic_int *running;
};

static void *importer_main(void *p)
{
    struct importer_arg *a = p;
    struct sl_store *st;
    struct sl_err err;
    if (sl_store_open(a->uri, &st, &err) == SL_OK) {
        for (int i = 0; i < 100; i++)
            if (sl_store_import(st, a->svc, 1, &err) != SL_OK) {
                print_message("  import: %s\n", err.msg);
                atomic_fetch_add(a->bad, 1);
            }
        sl_store_close(st);
    } else {
        atomic_fetch_add(a->bad, 1);
    }
    atomic_fetch_sub(a->running, 1);
    return NULL;
}

static void test_concurrent_imports_replace_whole(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log a[] = {L(1, "a1"), L(2, "a2"), L(3, "a3")};
    const struct sl_import_log b[] = {L(10, "b1"), L(11, "b2")};
    struct sl_import_service va = S("p1", "svc", "alpha", EDGE, a, N(a));
    struct sl_import_service vb = S("p1", "svc", "beta", EDGE, b, N(b));
    atomic_int bad = 0, running = 2;
    int reads = 0, mixed = 0;
    struct importer_arg args[2] = {{f->uri, &va, &bad, &running},
                                   {f->uri, &vb, &bad, &running}};
    pthread_t t[2];
    import_ok(f->st, &va, 1);
    for (size_t i = 0; i < N(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, importer_main, &args[i]),
                         0);
    do {
        struct sl_log_query q = {"p1", "svc", 0, 0};
        struct sl_log_page pg;
        struct sl_err err;
        assert_sl_ok(sl_store_query_logs(f->st, &q, &pg, &err), &err);
        bool is_a = strcmp(pg.service_name, "alpha") == 0;
        const struct sl_import_log *want = is_a ? a : b;
        bool ok = pg.n_logs == (is_a ? N(a) : N(b));
        for (size_t i = 0; ok && i < pg.n_logs; i++)
            ok = pg.logs[i].len == want[i].body.len &&
                 memcmp(pg.logs[i].data, want[i].body.data, want[i].body.len) ==
                     0;
        mixed += !ok;
        reads++;
        sl_log_page_free(&pg);
    } while (atomic_load(&running) > 0);
    for (size_t i = 0; i < N(t); i++)
        pthread_join(t[i], NULL);
    print_message("  %d reads, %d of a mix\n", reads, mixed);
    assert_int_equal(atomic_load(&bad), 0);
    assert_int_equal(mixed, 0);
}

/* ---- v4: writes and the change feed ------------------------------------- */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_ok(struct sl_store *st, const char *project_id,
                   const char *service_id, const char *name, int infer_type,
                   bool want_created)
{
    struct sl_service_put p = {project_id, service_id, name, infer_type};
    struct sl_err err;
    bool created = !want_created;
    assert_sl_ok(sl_store_put_service(st, &p, &created, &err), &err);
    assert_int_equal(created, want_created);
}

/* record_log of (t, body), which must succeed; returns its seq. */
static int64_t record_ok(struct sl_store *st, const char *project_id,
                         const char *service_id, int64_t t, const char *body,
                         bool want_created)
{
    struct sl_import_log l = L(t, body);
    struct sl_err err;
    bool created = !want_created;
    int64_t seq = -1;
    assert_sl_ok(sl_store_record_log(st, project_id, service_id, &l, &created,
                                     &seq, &err),
                 &err);
    assert_int_equal(created, want_created);
    assert_true(seq > 0);
    return seq;
}

/* read_changes, which must succeed. */
static void read_ok(struct sl_store *st, int64_t after, size_t max,
                    struct sl_change_batch *b)
{
    struct sl_err err;
    assert_sl_ok(sl_store_read_changes(st, after, max, b, &err), &err);
    for (size_t i = 0; i < b->n; i++) {
        assert_true(b->changes[i].seq > after);
        assert_true(b->changes[i].seq <= b->head);
        if (i)
            assert_true(b->changes[i].seq > b->changes[i - 1].seq);
    }
}

static void expect_change(const struct sl_change *c, int64_t seq,
                          const char *project_id, const char *service_id,
                          int64_t t, const char *body)
{
    if (seq)
        assert_int_equal(c->seq, seq);
    assert_string_equal(c->project_id, project_id);
    assert_string_equal(c->service_id, service_id);
    assert_int_equal(c->update_time, t);
    assert_int_equal(c->body.len, strlen(body));
    if (c->body.len)
        assert_memory_equal(c->body.data, body, c->body.len);
}

/* The newest seq. */
static int64_t head_of(struct sl_store *st)
{
    struct sl_change_batch b;
    read_ok(st, -1, 100, &b);
    assert_int_equal(b.n, 0);
    assert_false(b.lost);
    int64_t head = b.head;
    sl_change_batch_free(&b);
    return head;
}

static void test_v4_slots(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_store_type *t = f->st->type;
    assert_true(t->version >= 4);
    assert_non_null(t->put_service);
    assert_non_null(t->record_log);
    assert_non_null(t->query_snapshot);
    assert_non_null(t->read_changes);
    assert_non_null(t->wait_changes);
    assert_int_equal(head_of(f->st), 0); /* a new store: no change yet */
}

/* ---- the streaming import (v5) ------------------------------------------ */

static void test_v5_slots(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_store_type *t = f->st->type;
    assert_true(t->version >= 5);
    assert_non_null(t->import_begin);
    assert_non_null(t->import_add);
    assert_non_null(t->import_end);
}

/* v6: open_with; options a backend does not use are ignored, and a second
 * connection opened with them answers. */
static void test_v6_open_with(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_store_type *t = f->st->type;
    assert_int_equal(t->version, 6);
    assert_non_null(t->open_with);
    struct sl_err err;
    struct sl_store *other = NULL;
    struct sl_store_options o = {.pool_size = 3, .listen_uri = ""};
    assert_sl_ok(sl_store_open_with(f->uri, &o, &other, &err), &err);
    assert_ptr_equal(other->type, t);
    assert_sl_ok(sl_store_ping(other, &err), &err);
    sl_store_close(other);
    assert_sl_ok(sl_store_open_with(f->uri, NULL, &other, &err), &err);
    sl_store_close(other);
}

/* Batches of one session: nothing is seen before the commit, a service
 * named in two batches ends as the last one, one change per service. */
static void test_import_session_batches(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log a1[] = {L(1, "a1"), L(2, "a2")};
    const struct sl_import_log b1[] = {L(5, "b1")};
    const struct sl_import_log a2[] = {L(9, "a-last")};
    struct sl_import_service one[] = {S("p1", "a", "first", EDGE, a1, 2),
                                      S("p1", "b", "b", REAL_TIME, b1, 1)};
    struct sl_import_service two[] = {S("p1", "c", "c", BATCH, NULL, 0),
                                      S("p1", "a", "again", EDGE, a2, 1)};
    struct sl_store *reader;
    struct sl_err err;
    int64_t head = head_of(f->st);

    assert_sl_ok(sl_store_open(f->uri, &reader, &err), &err);
    assert_sl_ok(sl_store_import_begin(f->st, &err), &err);
    assert_sl_ok(sl_store_import_add(f->st, one, N(one), &err), &err);
    expect_not_found(reader, "p1", "a");
    assert_sl_ok(sl_store_import_add(f->st, two, N(two), &err), &err);
    assert_sl_ok(sl_store_import_add(f->st, NULL, 0, &err), &err);
    expect_not_found(reader, "p1", "b");
    assert_int_equal(head_of(reader), head);
    assert_sl_ok(sl_store_import_end(f->st, true, &err), &err);

    const char *want_a[] = {"a-last"}, *want_b[] = {"b1"};
    expect_query(reader, "p1", "a", 0, "again", EDGE, want_a, 1);
    expect_query(reader, "p1", "b", 0, "b", REAL_TIME, want_b, 1);
    expect_query(reader, "p1", "c", 0, "c", BATCH, NULL, 0);
    /* One "replaced" change per service (the one named twice: once or
     * twice, as the backend records it), update_time 0 and no body. */
    struct sl_change_batch cb;
    read_ok(reader, head, 100, &cb);
    assert_true(cb.n >= 3 && cb.n <= 4);
    for (size_t i = 0; i < cb.n; i++) {
        assert_int_equal(cb.changes[i].update_time, 0);
        assert_int_equal(cb.changes[i].body.len, 0);
    }
    sl_change_batch_free(&cb);
    sl_store_close(reader);
    /* The connection serves and imports again. */
    import_ok(f->st, one, 1);
    const char *want_a1[] = {"a1", "a2"};
    expect_query(f->st, "p1", "a", 0, "first", EDGE, want_a1, 2);
}

/* A session rolled back changes nothing, and the connection goes on. */
static void test_import_session_rollback(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log v1[] = {L(1, "old")}, v2[] = {L(2, "new")};
    struct sl_import_service old = S("p1", "svc", "old", EDGE, v1, 1);
    struct sl_import_service next[] = {S("p1", "svc", "new", EDGE, v2, 1),
                                       S("p1", "more", "m", EDGE, v2, 1)};
    struct sl_err err;
    import_ok(f->st, &old, 1);
    int64_t head = head_of(f->st);
    assert_sl_ok(sl_store_import_begin(f->st, &err), &err);
    assert_sl_ok(sl_store_import_add(f->st, next, N(next), &err), &err);
    assert_sl_ok(sl_store_import_end(f->st, false, &err), &err);
    const char *want[] = {"old"};
    expect_query(f->st, "p1", "svc", 0, "old", EDGE, want, 1);
    expect_not_found(f->st, "p1", "more");
    assert_int_equal(head_of(f->st), head);
    /* A session without a batch commits nothing and fails nothing. */
    assert_sl_ok(sl_store_import_begin(f->st, &err), &err);
    assert_sl_ok(sl_store_import_end(f->st, true, &err), &err);
    expect_query(f->st, "p1", "svc", 0, "old", EDGE, want, 1);
    import_ok(f->st, next, 1);
    const char *want2[] = {"new"};
    expect_query(f->st, "p1", "svc", 0, "new", EDGE, want2, 1);
}

/* A failure in a later batch (at its add or at the commit, as the backend
 * finds it) leaves the earlier batches unwritten. */
static void test_import_session_failure(void **state)
{
    struct fixture *f = fixture_of(state);
    if (!f->be->break_import)
        skip();
    const struct sl_import_log v1[] = {L(1, "old")}, v2[] = {L(2, "new")};
    struct sl_import_service old = S("p1", "svc", "old", EDGE, v1, 1);
    struct sl_import_service b1 = S("p1", "svc", "new", EDGE, v2, 1);
    struct sl_import_service b2 = S("p1", "poison", "bad", EDGE, v2, 1);
    struct sl_err err;
    import_ok(f->st, &old, 1);
    f->be->break_import(f, "poison");
    assert_sl_ok(sl_store_import_begin(f->st, &err), &err);
    assert_sl_ok(sl_store_import_add(f->st, &b1, 1, &err), &err);
    int rc = sl_store_import_add(f->st, &b2, 1, &err);
    if (rc == SL_OK) {
        rc = sl_store_import_end(f->st, true, &err);
    } else {
        assert_non_null(strstr(err.msg, "nothing changed"));
        assert_sl_ok(sl_store_import_end(f->st, false, &err), &err);
    }
    assert_int_not_equal(rc, SL_OK);
    assert_non_null(strstr(err.msg, "nothing changed"));
    const char *want[] = {"old"};
    expect_query(f->st, "p1", "svc", 0, "old", EDGE, want, 1);
    expect_not_found(f->st, "p1", "poison");
    import_ok(f->st, &b1, 1); /* the connection still works */
}

/* Closing a connection with a session open rolls it back. */
static void test_import_session_closed(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log v[] = {L(2, "new")};
    struct sl_import_service s = S("p1", "gone", "g", EDGE, v, 1);
    struct sl_store *other;
    struct sl_err err;
    assert_sl_ok(sl_store_open(f->uri, &other, &err), &err);
    assert_sl_ok(sl_store_import_begin(other, &err), &err);
    assert_sl_ok(sl_store_import_add(other, &s, 1, &err), &err);
    sl_store_close(other);
    expect_not_found(f->st, "p1", "gone");
    import_ok(f->st, &s, 1); /* no lock left behind */
}

static void test_put_service(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_service_put p = {"p1", "svc", "other", EDGE};
    struct sl_err err;
    bool created = true;

    int64_t head = head_of(f->st);
    put_ok(f->st, "p1", "svc", "first", REAL_TIME, true);
    expect_query(f->st, "p1", "svc", 0, "first", REAL_TIME, NULL, 0);
    put_ok(f->st, "p1", "svc", "second", REAL_TIME, false); /* a rename */
    expect_query(f->st, "p1", "svc", 0, "second", REAL_TIME, NULL, 0);
    put_ok(f->st, "p1", "svc", "second", REAL_TIME, false); /* no change */

    /* infer_type never changes: refused, nothing changed. */
    assert_sl_err(sl_store_put_service(f->st, &p, &created, &err), SL_ECONFLICT,
                  &err);
    assert_false(created);
    expect_query(f->st, "p1", "svc", 0, "second", REAL_TIME, NULL, 0);

    /* The create and the rename are one "replaced" change each (update_time
     * 0, no body); the put that changed nothing and the refused one none. */
    struct sl_change_batch cb;
    read_ok(f->st, head, 100, &cb);
    assert_int_equal(cb.n, 2);
    for (size_t i = 0; i < cb.n; i++) {
        assert_int_equal(cb.changes[i].seq, head + 1 + (int64_t)i);
        assert_string_equal(cb.changes[i].project_id, "p1");
        assert_string_equal(cb.changes[i].service_id, "svc");
        assert_int_equal(cb.changes[i].update_time, 0);
        assert_int_equal(cb.changes[i].body.len, 0);
    }
    sl_change_batch_free(&cb);

    /* Batch services may be put (only their logs are refused). */
    put_ok(f->st, "p1", "batchy", "b", BATCH, true);
    expect_query(f->st, "p1", "batchy", 0, "b", BATCH, NULL, 0);
    put_ok(f->st, "p2", "svc", "in p2", EDGE, true); /* another project */
    expect_query(f->st, "p2", "svc", 0, "in p2", EDGE, NULL, 0);

    /* A rename keeps an imported service's logs. */
    const struct sl_import_log logs[] = {L(2, "b"), L(1, "a")};
    struct sl_import_service s = S("p1", "imp", "old", EDGE, logs, N(logs));
    import_ok(f->st, &s, 1);
    put_ok(f->st, "p1", "imp", "new", EDGE, false);
    const char *want[] = {"a", "b"};
    expect_query(f->st, "p1", "imp", 0, "new", EDGE, want, 2);

    size_t n = 0;
    assert_sl_ok(sl_store_count_services(f->st, &n, &err), &err);
    assert_int_equal(n, 4);
    /* Another connection sees it all. */
    struct sl_store *other;
    assert_sl_ok(sl_store_open(f->uri, &other, &err), &err);
    expect_query(other, "p1", "imp", 0, "new", EDGE, want, 2);
    sl_store_close(other);
}

/* A new time appends in time order; a known time replaces that log in
 * place (RUNNING -> SUCCESS); every write is one change of the feed. */
static void test_record_log_append_and_replace(void **state)
{
    struct fixture *f = fixture_of(state);
    put_ok(f->st, "p1", "svc", "n", REAL_TIME, true);
    int64_t s1 = record_ok(f->st, "p1", "svc", 20, "b-running", true);
    int64_t s2 = record_ok(f->st, "p1", "svc", 10, "a", true);
    int64_t s3 = record_ok(f->st, "p1", "svc", 30, "c", true);
    const char *w1[] = {"a", "b-running", "c"};
    expect_query(f->st, "p1", "svc", 0, "n", REAL_TIME, w1, 3);

    int64_t s4 = record_ok(f->st, "p1", "svc", 20, "b-success", false);
    const char *w2[] = {"a", "b-success", "c"}, *at20[] = {"b-success"};
    expect_query(f->st, "p1", "svc", 0, "n", REAL_TIME, w2, 3);
    expect_query(f->st, "p1", "svc", 20, "n", REAL_TIME, at20, 1);
    assert_true(s1 < s2 && s2 < s3 && s3 < s4);

    /* The same body again is still a write, and a change. */
    int64_t s5 = record_ok(f->st, "p1", "svc", 20, "b-success", false);
    assert_true(s5 > s4);
    expect_query(f->st, "p1", "svc", 0, "n", REAL_TIME, w2, 3);

    struct sl_change_batch b;
    read_ok(f->st, s1 - 1, 100, &b);
    assert_int_equal(b.n, 5);
    assert_int_equal(b.head, s5);
    assert_false(b.lost);
    expect_change(&b.changes[0], s1, "p1", "svc", 20, "b-running");
    expect_change(&b.changes[1], s2, "p1", "svc", 10, "a");
    expect_change(&b.changes[2], s3, "p1", "svc", 30, "c");
    expect_change(&b.changes[3], s4, "p1", "svc", 20, "b-success");
    expect_change(&b.changes[4], s5, "p1", "svc", 20, "b-success");
    sl_change_batch_free(&b);

    /* Durable and shared: a new connection sees the same. */
    struct sl_store *other;
    struct sl_err err;
    assert_sl_ok(sl_store_open(f->uri, &other, &err), &err);
    expect_query(other, "p1", "svc", 0, "n", REAL_TIME, w2, 3);
    sl_store_close(other);
}

/* An import may leave several logs at one time: recording that time
 * replaces the first in place and deletes the others; a new time goes
 * after every log of an earlier time, before the later ones. */
static void test_record_log_over_import_duplicates(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(10, "x1"), L(30, "z"),  L(10, "x2"),
                                         L(20, "y1"), L(10, "x3"), L(20, "y2")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, N(logs));
    import_ok(f->st, &s, 1);
    const char *w0[] = {"x1", "x2", "x3", "y1", "y2", "z"};
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, w0, N(w0));

    record_ok(f->st, "p1", "svc", 10, "x-new", false);
    const char *w1[] = {"x-new", "y1", "y2", "z"}, *at10[] = {"x-new"};
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, w1, N(w1));
    expect_query(f->st, "p1", "svc", 10, "n", EDGE, at10, 1);

    record_ok(f->st, "p1", "svc", 25, "between", true);
    record_ok(f->st, "p1", "svc", 5, "first", true);
    record_ok(f->st, "p1", "svc", 40, "last", true);
    record_ok(f->st, "p1", "svc", 20, "y-new", false);
    const char *w2[] = {"first", "x-new", "y-new", "between", "z", "last"};
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, w2, N(w2));

    /* Re-importing the file puts it back exactly. */
    import_ok(f->st, &s, 1);
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, w0, N(w0));
    record_ok(f->st, "p1", "svc", 20, "y", false);
    const char *w3[] = {"x1", "x2", "x3", "y", "z"};
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, w3, N(w3));
}

static void test_record_log_refused(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_import_log l = L(1, "a");
    struct sl_err err;
    bool created = true;
    int64_t seq = 7;
    put_ok(f->st, "p1", "svc", "n", EDGE, true);
    put_ok(f->st, "p1", "batchy", "b", BATCH, true);
    int64_t head = head_of(f->st);

    assert_sl_err(
        sl_store_record_log(f->st, "p1", "nope", &l, &created, &seq, &err),
        SL_ENOTFOUND, &err);
    assert_false(created);
    assert_int_equal(seq, 0);
    seq = 7;
    assert_sl_err(
        sl_store_record_log(f->st, "p2", "svc", &l, &created, &seq, &err),
        SL_ENOTFOUND, &err); /* it exists in another project */
    assert_int_equal(seq, 0);
    assert_sl_err(
        sl_store_record_log(f->st, "p1", "batchy", &l, &created, &seq, &err),
        SL_EBATCH, &err);
    assert_false(created);
    assert_int_equal(seq, 0);

    /* Nothing was written, nothing reached the feed. */
    expect_query(f->st, "p1", "batchy", 0, "b", BATCH, NULL, 0);
    expect_not_found(f->st, "p1", "nope");
    assert_int_equal(head_of(f->st), head);
    record_ok(f->st, "p1", "svc", 1, "a", true); /* the connection works */
}

/* query_snapshot: the page query_logs gives, and the seq it reflects:
 * every later change has a larger one. */
static void test_query_snapshot(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_log_query q = {"p1", "svc", 0, 0};
    struct sl_log_page pg;
    struct sl_err err;
    int64_t seq = -1;

    assert_sl_err(sl_store_query_snapshot(f->st, &q, &pg, &seq, &err),
                  SL_ENOTFOUND, &err);
    assert_int_equal(pg.n_logs, 0);
    assert_int_equal(seq, 0);
    sl_log_page_free(&pg);

    put_ok(f->st, "p1", "svc", "n", EDGE, true);
    int64_t s1 = record_ok(f->st, "p1", "svc", 1, "a", true);
    assert_sl_ok(sl_store_query_snapshot(f->st, &q, &pg, &seq, &err), &err);
    assert_string_equal(pg.service_name, "n");
    assert_int_equal(pg.infer_type, EDGE);
    assert_int_equal(pg.n_logs, 1);
    assert_memory_equal(pg.logs[0].data, "a", 1);
    assert_int_equal(seq, s1);
    sl_log_page_free(&pg);

    /* Nothing after the snapshot yet; then exactly the later write. */
    struct sl_change_batch b;
    read_ok(f->st, seq, 100, &b);
    assert_int_equal(b.n, 0);
    sl_change_batch_free(&b);
    int64_t s2 = record_ok(f->st, "p1", "svc", 2, "b", true);
    assert_true(s2 > seq);
    read_ok(f->st, seq, 100, &b);
    assert_int_equal(b.n, 1);
    expect_change(&b.changes[0], s2, "p1", "svc", 2, "b");
    sl_change_batch_free(&b);

    /* The update_time filter, and a snapshot on another connection. */
    struct sl_store *other;
    assert_sl_ok(sl_store_open(f->uri, &other, &err), &err);
    struct sl_log_query at2 = {"p1", "svc", 2, 0};
    assert_sl_ok(sl_store_query_snapshot(other, &at2, &pg, &seq, &err), &err);
    assert_int_equal(pg.n_logs, 1);
    assert_memory_equal(pg.logs[0].data, "b", 1);
    assert_int_equal(seq, s2);
    sl_log_page_free(&pg);
    sl_store_close(other);

    /* Its deadline, as query_logs'. */
    struct sl_log_query late = {"p1", "svc", 0, mono_us() - 1};
    seq = -1;
    assert_sl_err(sl_store_query_snapshot(f->st, &late, &pg, &seq, &err),
                  SL_ETIMEOUT, &err);
    assert_int_equal(pg.n_logs, 0);
    assert_int_equal(seq, 0);
    sl_log_page_free(&pg);
}

static void test_read_changes(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(1, "one")};
    struct sl_import_service s[] = {
        S("p1", "a", "a", EDGE, logs, 1),
        S("p2", "b", "b", REAL_TIME, NULL, 0),
    };
    struct sl_change_batch b;

    import_ok(f->st, s, N(s));
    int64_t h1 = head_of(f->st);
    assert_true(h1 > 0);
    int64_t s1 = record_ok(f->st, "p1", "a", 2, "two", true);
    int64_t s2 = record_ok(f->st, "p2", "b", 3, "three", true);
    int64_t s3 = record_ok(f->st, "p1", "a", 1, "uno", false);

    /* after < 0: none, only where a new reader starts. */
    read_ok(f->st, -1, 100, &b);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.head, s3);
    assert_false(b.lost);
    sl_change_batch_free(&b);

    /* Everything: the import's two (time 0, no body), then the writes. */
    read_ok(f->st, 0, 100, &b);
    assert_int_equal(b.n, 5);
    assert_int_equal(b.head, s3);
    assert_false(b.lost);
    expect_change(&b.changes[0], 0, "p1", "a", 0, "");
    expect_change(&b.changes[1], h1, "p2", "b", 0, "");
    expect_change(&b.changes[2], s1, "p1", "a", 2, "two");
    expect_change(&b.changes[3], s2, "p2", "b", 3, "three");
    expect_change(&b.changes[4], s3, "p1", "a", 1, "uno");
    int64_t first = b.changes[0].seq;
    sl_change_batch_free(&b);

    /* max, and going on from the last one read. */
    read_ok(f->st, 0, 2, &b);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.changes[0].seq, first);
    assert_int_equal(b.changes[1].seq, h1);
    assert_int_equal(b.head, s3);
    sl_change_batch_free(&b);
    read_ok(f->st, h1, 2, &b);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.changes[0].seq, s1);
    assert_int_equal(b.changes[1].seq, s2);
    sl_change_batch_free(&b);
    read_ok(f->st, s2, 0, &b); /* max 0: none */
    assert_int_equal(b.n, 0);
    assert_int_equal(b.head, s3);
    sl_change_batch_free(&b);
    read_ok(f->st, s3, 100, &b);
    assert_int_equal(b.n, 0);
    assert_false(b.lost);
    sl_change_batch_free(&b);

    /* Another connection reads the same feed. */
    struct sl_store *other;
    struct sl_err err;
    assert_sl_ok(sl_store_open(f->uri, &other, &err), &err);
    read_ok(other, s1, 100, &b);
    assert_int_equal(b.n, 2);
    expect_change(&b.changes[1], s3, "p1", "a", 1, "uno");
    sl_change_batch_free(&b);
    sl_store_close(other);
}

/* Writers on several connections at once: every write is one change, the
 * seqs each writer got are all in the feed, in the order of the writes. */
struct writer_arg {
    const char *uri;
    const char *service_id;
    int64_t seqs[40];
    atomic_int *bad;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    struct sl_store *st;
    struct sl_err err;
    if (sl_store_open(a->uri, &st, &err) != SL_OK) {
        atomic_fetch_add(a->bad, 1);
        return NULL;
    }
    for (int i = 0; i < (int)N(a->seqs); i++) {
        char body[16];
        struct sl_import_log l;
        bool created;
        snprintf(body, sizeof(body), "%s-%d", a->service_id, i);
        l = L(i + 1, body);
        if (sl_store_record_log(st, "p1", a->service_id, &l, &created,
                                &a->seqs[i], &err) != SL_OK) {
            print_message("  record_log: %s\n", err.msg);
            atomic_fetch_add(a->bad, 1);
        }
    }
    sl_store_close(st);
    return NULL;
}

static void test_concurrent_writers(void **state)
{
    struct fixture *f = fixture_of(state);
    atomic_int bad = 0;
    struct writer_arg args[3] = {{f->uri, "w0", {0}, &bad},
                                 {f->uri, "w1", {0}, &bad},
                                 {f->uri, "w2", {0}, &bad}};
    pthread_t t[3];
    for (size_t i = 0; i < N(t); i++)
        put_ok(f->st, "p1", args[i].service_id, "w", EDGE, true);
    int64_t head = head_of(f->st), t0 = mono_us();
    for (size_t i = 0; i < N(t); i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &args[i]), 0);
    for (size_t i = 0; i < N(t); i++)
        pthread_join(t[i], NULL);
    int64_t took = mono_us() - t0;
    size_t total = N(t) * N(args[0].seqs);
    print_message("  %zu writes on %zu connections: %lld us per write\n", total,
                  N(t), (long long)(took / (int64_t)total));
    assert_int_equal(atomic_load(&bad), 0);

    struct sl_change_batch b;
    read_ok(f->st, head, 1000, &b);
    assert_int_equal(b.n, total);
    assert_false(b.lost);
    size_t next[3] = {0, 0, 0}; /* each writer's changes, in its order */
    for (size_t i = 0; i < b.n; i++) {
        const struct sl_change *c = &b.changes[i];
        size_t w = (size_t)(c->service_id[1] - '0');
        assert_true(w < N(t));
        assert_int_equal(c->seq, args[w].seqs[next[w]]);
        assert_int_equal(c->update_time, (int64_t)next[w] + 1);
        next[w]++;
    }
    sl_change_batch_free(&b);
    for (size_t i = 0; i < N(t); i++) {
        struct sl_log_query q = {"p1", args[i].service_id, 0, 0};
        struct sl_log_page pg;
        struct sl_err err;
        assert_sl_ok(sl_store_query_logs(f->st, &q, &pg, &err), &err);
        assert_int_equal(pg.n_logs, N(args[0].seqs));
        sl_log_page_free(&pg);
    }
}

/* After SL_STORE_FEED_KEEP + 2000 more changes (one import: one change
 * per service), the newest SL_STORE_FEED_KEEP are all there; a reader
 * asking for older ones is told it lost some exactly when it did. */
#define PRUNE_SVCS (SL_STORE_FEED_KEEP + 2000)

static void test_feed_pruning_and_lost(void **state)
{
    struct fixture *f = fixture_of(state);
    static char ids[PRUNE_SVCS][12];
    static struct sl_import_service svcs[PRUNE_SVCS];
    struct sl_change_batch b;

    put_ok(f->st, "p1", "svc", "n", EDGE, true);
    int64_t s0 = record_ok(f->st, "p1", "svc", 1, "old", true);
    for (size_t i = 0; i < PRUNE_SVCS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "s%zu", i);
        svcs[i] = S("p1", ids[i], ids[i], EDGE, NULL, 0);
    }
    int64_t t0 = mono_us();
    import_ok(f->st, svcs, PRUNE_SVCS);
    int64_t s1 = record_ok(f->st, "p1", "svc", 2, "new", true);
    print_message("  %d changes in one import: %lld ms\n", PRUNE_SVCS,
                  (long long)((mono_us() - t0) / 1000));

    /* The newest SL_STORE_FEED_KEEP: nothing lost, the last is s1. */
    read_ok(f->st, s1 - SL_STORE_FEED_KEEP, SL_STORE_FEED_KEEP, &b);
    assert_false(b.lost);
    assert_true(b.n > 0);
    expect_change(&b.changes[b.n - 1], s1, "p1", "svc", 2, "new");
    assert_int_equal(b.head, s1);
    sl_change_batch_free(&b);

    /* From before the import: lost, or every change still there. */
    read_ok(f->st, s0 - 1, 10, &b);
    if (b.lost) {
        assert_true(b.n > 0 && b.changes[0].seq > s0);
    } else {
        assert_false(f->be->prunes);
        assert_true(b.n > 0);
        expect_change(&b.changes[0], s0, "p1", "svc", 1, "old");
    }
    if (f->be->prunes)
        assert_true(b.lost);
    sl_change_batch_free(&b);

    /* Reading on from the oldest kept change loses nothing more. */
    read_ok(f->st, 0, 1, &b);
    int64_t oldest = b.n ? b.changes[0].seq : s1;
    sl_change_batch_free(&b);
    read_ok(f->st, oldest, 5, &b);
    assert_false(b.lost);
    sl_change_batch_free(&b);
    read_ok(f->st, -1, 5, &b);
    assert_false(b.lost); /* a new reader loses nothing */
    assert_int_equal(b.head, s1);
    sl_change_batch_free(&b);
}

/* A change whose stored check fails is refused, never handed out. */
static void test_feed_corruption(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_change_batch b;
    struct sl_err err;
    if (!f->be->corrupt_change)
        skip();
    put_ok(f->st, "p1", "svc", "n", EDGE, true);
    int64_t s1 = record_ok(f->st, "p1", "svc", 1, "hello", true);
    int64_t s2 = record_ok(f->st, "p1", "svc", 2, "world", true);
    f->be->corrupt_change(f, s1);
    assert_sl_err(sl_store_read_changes(f->st, s1 - 1, 10, &b, &err),
                  SL_ECORRUPT, &err);
    print_message("  %s\n", err.msg);
    assert_non_null(strstr(err.msg, "corrupt"));
    assert_null(strstr(err.msg, "hello"));
    assert_int_equal(b.n, 0);
    assert_null(b.changes);
    sl_change_batch_free(&b);
    read_ok(f->st, s1, 10, &b); /* the next one is fine */
    assert_int_equal(b.n, 1);
    expect_change(&b.changes[0], s2, "p1", "svc", 2, "world");
    sl_change_batch_free(&b);
}

/* Waits on watch (used for nothing else) and reads on rd until a change
 * after `after` shows; returns when it did (mono_us), 0 after 5 s. */
static int64_t watch_for(struct sl_store *watch, struct sl_store *rd,
                         int64_t after, struct sl_change_batch *b)
{
    int64_t give_up = mono_us() + 5000000;
    struct sl_err err;
    while (mono_us() < give_up) {
        assert_sl_ok(sl_store_wait_changes(watch, 1000, &err), &err);
        read_ok(rd, after, 10, b);
        if (b->n)
            return mono_us();
        sl_change_batch_free(b);
    }
    return 0;
}

struct later_arg {
    struct sl_store *st;
    _Atomic int64_t committed_us; /* when record_log returned */
    int64_t seq;
};

static void *record_later(void *p)
{
    struct later_arg *a = p;
    struct timespec ts = {0, 200 * 1000000L}; /* the watcher is waiting */
    nanosleep(&ts, NULL);
    a->seq = record_ok(a->st, "p1", "svc", 7, "seven", true);
    atomic_store(&a->committed_us, mono_us());
    return NULL;
}

/* A write on one connection wakes wait_changes on another within 1 s,
 * and read_changes then shows it. */
static void test_wait_changes_two_connections(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *watch, *rd;
    struct sl_change_batch b;
    struct sl_err err;
    put_ok(f->st, "p1", "svc", "n", EDGE, true);
    assert_sl_ok(sl_store_open(f->uri, &watch, &err), &err);
    assert_sl_ok(sl_store_open(f->uri, &rd, &err), &err);
    int64_t head = head_of(rd);

    /* No commit: a wait ends by its timeout (or spuriously), no later. */
    int64_t t0 = mono_us();
    assert_sl_ok(sl_store_wait_changes(watch, 50, &err), &err);
    assert_true(mono_us() - t0 < 1000000);
    assert_sl_ok(sl_store_wait_changes(watch, 0, &err), &err);

    struct later_arg a = {f->st, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, record_later, &a), 0);
    int64_t seen = watch_for(watch, rd, head, &b);
    pthread_join(t, NULL);
    assert_true(seen > 0);
    int64_t lag = seen - atomic_load(&a.committed_us);
    print_message("  seen %lld us after the commit returned\n", (long long)lag);
    assert_true(lag < 1000000);
    assert_int_equal(b.n, 1);
    expect_change(&b.changes[0], a.seq, "p1", "svc", 7, "seven");
    sl_change_batch_free(&b);

    /* A commit made before the wait is not missed either. */
    int64_t s2 = record_ok(f->st, "p1", "svc", 8, "eight", true);
    t0 = mono_us();
    assert_sl_ok(sl_store_wait_changes(watch, 3000, &err), &err);
    assert_true(mono_us() - t0 < 1000000);
    read_ok(rd, a.seq, 10, &b);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.changes[0].seq, s2);
    sl_change_batch_free(&b);
    sl_store_close(watch);
    sl_store_close(rd);
}

#define CASE(fn)                                                               \
    {                                                                          \
#fn, fn, setup, teardown, NULL                                         \
    }

static const struct CMUnitTest contract_cases[] = {
    CASE(test_open_ping_close),
    CASE(test_type_registry_fields),
    CASE(test_not_found),
    CASE(test_order_oldest_first_ties_in_file_order),
    CASE(test_update_time_filter),
    CASE(test_service_without_logs),
    CASE(test_binary_bodies_round_trip),
    CASE(test_reimport_replaces_and_is_idempotent),
    CASE(test_duplicate_in_one_import_last_wins),
    CASE(test_empty_import),
    CASE(test_failed_import_changes_nothing),
    CASE(test_projects_are_isolated),
    CASE(test_count_services),
    CASE(test_import_visible_to_other_connections),
    CASE(test_many_services),
    CASE(test_readers_see_whole_imports),
    CASE(test_concurrent_imports_replace_whole),
    CASE(test_v4_slots),
    CASE(test_v5_slots),
    CASE(test_v6_open_with),
    CASE(test_import_session_batches),
    CASE(test_import_session_rollback),
    CASE(test_import_session_failure),
    CASE(test_import_session_closed),
    CASE(test_put_service),
    CASE(test_record_log_append_and_replace),
    CASE(test_record_log_over_import_duplicates),
    CASE(test_record_log_refused),
    CASE(test_query_snapshot),
    CASE(test_read_changes),
    CASE(test_concurrent_writers),
    CASE(test_feed_pruning_and_lost),
    CASE(test_feed_corruption),
    CASE(test_wait_changes_two_connections),
};

/* ---- sqlite only -------------------------------------------------------- */

static int sqlite_setup(void **state)
{
    for (size_t i = 0; i < N(backends); i++)
        if (strcmp(backends[i].name, "sqlite") == 0)
            *state = (void *)&backends[i];
    return setup(state);
}

static void test_sqlite_not_a_database(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *st = (struct sl_store *)1;
    struct sl_err err;
    char want[400];
    char path[] = "/tmp/sl_notdb_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(write(fd, "this is not a database\n", 23), 23);
    close(fd);
    char uri[300];
    snprintf(uri, sizeof(uri), "sqlite:%s", path);
    assert_sl_err(sl_store_open(uri, &st, &err), SL_EINVAL, &err);
    assert_null(st);
    snprintf(want, sizeof(want), "sqlite:%s: file is not a database", path);
    assert_string_equal(err.msg, want);
    unlink(path);

    /* A database, but someone else's: left alone. */
    sl_store_close(f->st);
    f->st = NULL;
    sqlite_destroy(f);
    sqlite_exec(f, "CREATE TABLE services(x)");
    assert_sl_err(sl_store_open(f->uri, &st, &err), SL_EINVAL, &err);
    assert_null(st);
    snprintf(want, sizeof(want),
             "sqlite:%s: not a servicelogs database (it has tables but no "
             "meta.schema_version)",
             f->path);
    assert_string_equal(err.msg, want);
}

static void test_sqlite_bad_paths(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *st;
    struct sl_err err;
    assert_sl_err(sl_store_open("sqlite:/nonexistent-sl-dir/x.db", &st, &err),
                  SL_EIO, &err);
    assert_null(st);
    assert_string_equal(err.msg, "sqlite:/nonexistent-sl-dir/x.db: unable to "
                                 "open database file");
    assert_sl_err(sl_store_open("sqlite:", &st, &err), SL_EINVAL, &err);
    assert_sl_err(sl_store_open("sqlite::memory:", &st, &err), SL_EINVAL, &err);
    assert_non_null(strstr(err.msg, "memory:"));
    (void)f;
}

/* One value of a query on the test's own connection, as text. */
static void sqlite_value(struct fixture *f, const char *sql, char *out,
                         size_t size)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    out[0] = '\0';
    while (sqlite3_step(s) == SQLITE_ROW) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s|",
                 (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_sqlite_schema(void **state)
{
    struct fixture *f = fixture_of(state);
    char v[4096];
    sqlite_value(f, "SELECT value FROM meta WHERE key = 'schema_version'", v,
                 sizeof(v));
    assert_string_equal(v, "2|");
    sqlite_value(f, "PRAGMA journal_mode", v, sizeof(v));
    assert_string_equal(v, "wal|");
    sqlite_value(f,
                 "SELECT name FROM sqlite_master WHERE type = 'table'"
                 " ORDER BY name",
                 v, sizeof(v));
    assert_string_equal(v, "changes|logs|meta|services|");
    sqlite_value(f, "SELECT key || '=' || value FROM meta ORDER BY key", v,
                 sizeof(v));
    assert_string_equal(v, "feed_pruned=0|feed_seq=0|schema_version=2|");

    /* A newer schema is refused, with a message that says so. */
    sl_store_close(f->st);
    f->st = NULL;
    sqlite_exec(f, "UPDATE meta SET value = 3 WHERE key = 'schema_version'");
    struct sl_store *st;
    struct sl_err err;
    assert_sl_err(sl_store_open(f->uri, &st, &err), SL_EINVAL, &err);
    assert_null(st);
    assert_non_null(strstr(err.msg, "schema version 3 is not supported"));
    assert_non_null(strstr(err.msg, f->path));
}

static void test_sqlite_reimport_rows_identical(void **state)
{
    struct fixture *f = fixture_of(state);
    static const char dump[] =
        "SELECT quote(project_id) || quote(service_id) || quote(seq) ||"
        " quote(update_time) || quote(body) FROM logs"
        " UNION ALL SELECT quote(project_id) || quote(service_id) ||"
        " quote(service_name) || quote(infer_type) FROM services";
    char before[4096], after[4096];
    const struct sl_import_log logs[] = {L(3, "c"), L(1, "a"), L(3, "d")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, N(logs));
    import_ok(f->st, &s, 1);
    sqlite_value(f, dump, before, sizeof(before));
    import_ok(f->st, &s, 1);
    sqlite_value(f, dump, after, sizeof(after));
    assert_string_equal(before, after);
    /* seq is the index in the file. */
    sqlite_value(f, "SELECT seq || ':' || update_time FROM logs", after,
                 sizeof(after));
    assert_string_equal(after, "1:1|0:3|2:3|");
}

static void test_sqlite_survives_reopen(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(2, "b"), L(1, "a")};
    struct sl_import_service s = S("p1", "svc", "n", REAL_TIME, logs, 2);
    struct sl_err err;
    import_ok(f->st, &s, 1);
    sl_store_close(f->st);
    assert_sl_ok(sl_store_open(f->uri, &f->st, &err), &err);
    const char *want[] = {"a", "b"};
    expect_query(f->st, "p1", "svc", 0, "n", REAL_TIME, want, 2);
}

/* A writer holding the lock: queries go on (WAL), an import waits out the
 * busy timeout and fails with SL_EUNAVAIL, changing nothing. */
static void test_sqlite_locked(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(1, "a")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, 1);
    struct sl_import_service s2 = S("p1", "svc", "changed", EDGE, NULL, 0);
    struct sl_err err;
    sqlite3 *db = NULL;
    import_ok(f->st, &s, 1);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    const char *want[] = {"a"};
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, want, 1);
    assert_sl_err(sl_store_import(f->st, &s2, 1, &err), SL_EUNAVAIL, &err);
    assert_non_null(strstr(err.msg, "database is locked"));
    assert_sl_ok(sl_store_ping(f->st, &err), &err);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, want, 1);
}

static sqlite3 *captured_db; /* the last connection the process opened */

static int capture_db(sqlite3 *db, char **errmsg,
                      const struct sqlite3_api_routines *api)
{
    (void)errmsg;
    (void)api;
    captured_db = db;
    return SQLITE_OK;
}

/* The statements the backend prepared at open read one index range each,
 * in order: no full scan, no sort. */
static void test_sqlite_query_plan(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *st;
    struct sl_err err;
    char sql[4][1024];
    size_t n = 0;

    captured_db = NULL;
    sqlite3_auto_extension((void (*)(void))capture_db);
    assert_sl_ok(sl_store_open(f->uri, &st, &err), &err);
    sqlite3_reset_auto_extension(); /* also frees sqlite's list */
    assert_non_null(captured_db);
    for (sqlite3_stmt *s = sqlite3_next_stmt(captured_db, NULL); s;
         s = sqlite3_next_stmt(captured_db, s))
        if (strstr(sqlite3_sql(s), "FROM services") && n < N(sql))
            snprintf(sql[n++], sizeof(sql[0]), "EXPLAIN QUERY PLAN %s",
                     sqlite3_sql(s));
    assert_int_equal(n, 2); /* all logs; logs at one update_time */

    bool saw_filter = false;
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *s = NULL;
        int rows = 0;
        assert_int_equal(sqlite3_prepare_v2(captured_db, sql[i], -1, &s, NULL),
                         SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(s, 3);
            print_message("  plan: %s\n", d);
            assert_null(strstr(d, "SCAN"));
            assert_null(strstr(d, "TEMP B-TREE"));
            assert_non_null(strstr(d, "USING PRIMARY KEY (project_id=? AND "
                                      "service_id=?"));
            saw_filter |= strstr(d, "update_time=?") != NULL;
            rows++;
        }
        assert_int_equal(rows, 2); /* services, then logs */
        sqlite3_finalize(s);
    }
    assert_true(saw_filter);
    sl_store_close(st);
}

/* A second process (fork + exec of this binary, so that no SQLite state
 * crosses the fork) records a log while this one waits: wait_changes
 * notices the other process's commit within 1 s. */
static void test_sqlite_wait_other_process(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *watch, *rd;
    struct sl_change_batch b;
    struct sl_err err;
    int fds[2];
    put_ok(f->st, "p1", "svc", "n", EDGE, true);
    assert_sl_ok(sl_store_open(f->uri, &watch, &err), &err);
    assert_sl_ok(sl_store_open(f->uri, &rd, &err), &err);
    int64_t head = head_of(rd);

    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "test_store_contract", "--record-child", f->uri,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int64_t seen = watch_for(watch, rd, head, &b);
    char line[64] = "";
    ssize_t got = 0, r;
    while ((r = read(fds[0], line + got, sizeof(line) - 1 - (size_t)got)) > 0)
        got += r;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    long long committed = 0, seq = 0;
    assert_int_equal(sscanf(line, "%lld %lld", &committed, &seq), 2);
    assert_true(seen > 0);
    print_message("  seen %lld us after the other process's commit\n",
                  (long long)(seen - committed));
    assert_true(seen - committed < 1000000);
    assert_int_equal(b.n, 1);
    expect_change(&b.changes[0], seq, "p1", "svc", 9, "from-child");
    sl_change_batch_free(&b);
    sl_store_close(watch);
    sl_store_close(rd);
}

/* The child of test_sqlite_wait_other_process: records one log on its own
 * connection once the parent is waiting, and prints "COMMITTED_US SEQ". */
static int record_child(const char *uri)
{
    struct sl_store *st;
    struct sl_err err;
    struct sl_import_log l = L(9, "from-child");
    struct timespec ts = {0, 300 * 1000000L};
    bool created;
    int64_t seq;
    if (sl_store_open(uri, &st, &err) != SL_OK) {
        fprintf(stderr, "child: %s\n", err.msg);
        return 1;
    }
    nanosleep(&ts, NULL);
    int rc = sl_store_record_log(st, "p1", "svc", &l, &created, &seq, &err);
    int64_t at = mono_us();
    sl_store_close(st);
    if (rc != SL_OK) {
        fprintf(stderr, "child: %s\n", err.msg);
        return 1;
    }
    printf("%lld %lld\n", (long long)at, (long long)seq);
    return 0;
}

/* A file of schema version 1 (before the feed) is migrated at open: its
 * data stays, and the feed starts at seq 1. */
static void test_sqlite_migrates_v1(void **state)
{
    struct fixture *f = fixture_of(state);
    char v[256];
    sl_store_close(f->st);
    f->st = NULL;
    sqlite_destroy(f);
    sqlite_exec(f, "PRAGMA journal_mode=WAL;"
                   "CREATE TABLE meta(key TEXT PRIMARY KEY, value);"
                   "CREATE TABLE services(project_id TEXT NOT NULL,"
                   " service_id TEXT NOT NULL, service_name TEXT NOT NULL,"
                   " infer_type INTEGER NOT NULL,"
                   " PRIMARY KEY(project_id, service_id)) WITHOUT ROWID;"
                   "CREATE TABLE logs(project_id TEXT NOT NULL,"
                   " service_id TEXT NOT NULL, seq INTEGER NOT NULL,"
                   " update_time INTEGER NOT NULL, body BLOB NOT NULL,"
                   " PRIMARY KEY(project_id, service_id, update_time, seq))"
                   " WITHOUT ROWID;"
                   "INSERT INTO meta VALUES('schema_version', 1);"
                   "INSERT INTO services VALUES('p1', 'svc', 'n', 2);"
                   "INSERT INTO logs VALUES('p1', 'svc', 0, 5, x'0805');");
    struct sl_err err;
    assert_sl_ok(sl_store_open(f->uri, &f->st, &err), &err);
    sqlite_value(f, "SELECT key || '=' || value FROM meta ORDER BY key", v,
                 sizeof(v));
    assert_string_equal(v, "feed_pruned=0|feed_seq=0|schema_version=2|");
    const char *want[] = {"\x08\x05"}; /* update_time 5, unsealed */
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, want, 1);
    assert_int_equal(record_ok(f->st, "p1", "svc", 6, "b", true), 1);
    const char *want2[] = {"\x08\x05", "b"};
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, want2, 2);
}

/* What record_log writes: the log with seq max + 1 (or in the replaced
 * log's place), both sealed, and the counters in meta. */
static void test_sqlite_record_rows(void **state)
{
    struct fixture *f = fixture_of(state);
    char v[1024];
    const struct sl_import_log logs[] = {L(3, "c"), L(1, "a"), L(3, "d")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, N(logs));
    import_ok(f->st, &s, 1);
    record_ok(f->st, "p1", "svc", 2, "b", true);
    record_ok(f->st, "p1", "svc", 3, "e", false);
    sqlite_value(f,
                 "SELECT seq || ':' || update_time || ':' ||"
                 " CAST(substr(body, 1, length(body) - 9) AS TEXT) FROM logs",
                 v, sizeof(v));
    assert_string_equal(v, "1:1:a|3:2:b|0:3:e|");
    sqlite_value(f,
                 "SELECT seq || ':' || service_id || ':' || update_time ||"
                 " ':' || length(body) FROM changes",
                 v, sizeof(v));
    assert_string_equal(v, "1:svc:0:9|2:svc:2:10|3:svc:3:10|");
    sqlite_value(f, "SELECT value FROM meta WHERE key = 'feed_seq'", v,
                 sizeof(v));
    assert_string_equal(v, "3|");
}

#define SQLITE_CASE(fn)                                                        \
    {                                                                          \
#fn, fn, sqlite_setup, teardown, NULL                                  \
    }

static const struct CMUnitTest sqlite_cases[] = {
    SQLITE_CASE(test_sqlite_not_a_database),
    SQLITE_CASE(test_sqlite_bad_paths),
    SQLITE_CASE(test_sqlite_schema),
    SQLITE_CASE(test_sqlite_reimport_rows_identical),
    SQLITE_CASE(test_sqlite_survives_reopen),
    SQLITE_CASE(test_sqlite_locked),
    SQLITE_CASE(test_sqlite_query_plan),
    SQLITE_CASE(test_sqlite_wait_other_process),
    SQLITE_CASE(test_sqlite_migrates_v1),
    SQLITE_CASE(test_sqlite_record_rows),
};

/* ---- postgres only ------------------------------------------------------ */

#ifdef SL_WITH_PG
static int pg_setup(void **state)
{
    for (size_t i = 0; i < N(backends); i++)
        if (strcmp(backends[i].name, "postgres") == 0)
            *state = (void *)&backends[i];
    return setup(state);
}

static void test_pg_schema(void **state)
{
    struct fixture *f = fixture_of(state);
    char v[1024];
    pg_sql(f, "SELECT value FROM meta WHERE key = 'schema_version'", v,
           sizeof(v));
    assert_string_equal(v, "2|");
    pg_sql(f,
           "SELECT table_name FROM information_schema.tables"
           " WHERE table_schema = current_schema() ORDER BY 1",
           v, sizeof(v));
    assert_string_equal(v, "changes|feed|logs|meta|services|");
    pg_sql(f, "SELECT head || ':' || pruned FROM feed", v, sizeof(v));
    assert_string_equal(v, "0:0|");
    pg_sql(f,
           "SELECT string_agg(a.attname || ':' || format_type(a.atttypid, "
           "a.atttypmod), ',' ORDER BY a.attnum) FROM pg_attribute a"
           " WHERE a.attrelid = 'logs'::regclass AND a.attnum > 0",
           v, sizeof(v));
    assert_string_equal(v, "project_id:text,service_id:text,update_time:bigint,"
                           "seq:integer,body:bytea|");

    /* A second open finds the schema and changes nothing. */
    struct sl_store *st;
    struct sl_err err;
    assert_sl_ok(sl_store_open(f->uri, &st, &err), &err);
    sl_store_close(st);

    /* A newer schema is refused, with a message that says so. */
    sl_store_close(f->st);
    f->st = NULL;
    pg_sql(f, "UPDATE meta SET value = '3' WHERE key = 'schema_version'", NULL,
           0);
    assert_sl_err(sl_store_open(f->uri, &st, &err), SL_EINVAL, &err);
    assert_null(st);
    assert_non_null(strstr(err.msg, "schema version 3 is not supported"));
    assert_non_null(strstr(err.msg, "postgres://"));
}

/* Someone else's services table in the schema: left alone. */
static void test_pg_foreign_schema(void **state)
{
    struct fixture *f = fixture_of(state);
    struct sl_store *st = (struct sl_store *)1;
    struct sl_err err;
    sl_store_close(f->st);
    f->st = NULL;
    pg_sql(f,
           "DROP TABLE meta, services, logs, feed, changes;"
           " CREATE TABLE services(x int)",
           NULL, 0);
    assert_sl_err(sl_store_open(f->uri, &st, &err), SL_EINVAL, &err);
    assert_null(st);
    assert_non_null(strstr(err.msg, "not a servicelogs schema"));
    char v[256];
    pg_sql(f,
           "SELECT table_name FROM information_schema.tables"
           " WHERE table_schema = current_schema() ORDER BY 1",
           v, sizeof(v));
    assert_string_equal(v, "services|"); /* nothing created beside it */
}

struct opener_arg {
    const char *uri;
    atomic_int *failed;
    struct sl_err err;
};

static void *opener_main(void *p)
{
    struct opener_arg *a = p;
    struct sl_store *st;
    if (sl_store_open(a->uri, &st, &a->err) != SL_OK) {
        atomic_fetch_add(a->failed, 1);
        return NULL;
    }
    sl_store_close(st);
    return NULL;
}

/* Many connections opening an empty schema at once (the server's workers
 * at its first start): the advisory lock lets one create the tables. */
static void test_pg_concurrent_first_open(void **state)
{
    struct fixture *f = fixture_of(state);
    sl_store_close(f->st);
    f->st = NULL;
    pg_sql(f, "DROP TABLE meta, services, logs, feed, changes", NULL, 0);
    atomic_int failed = 0;
    struct opener_arg args[8];
    pthread_t t[8];
    for (size_t i = 0; i < N(t); i++) {
        args[i].uri = f->uri;
        args[i].failed = &failed;
        sl_err_clear(&args[i].err);
        assert_int_equal(pthread_create(&t[i], NULL, opener_main, &args[i]), 0);
    }
    for (size_t i = 0; i < N(t); i++) {
        pthread_join(t[i], NULL);
        if (args[i].err.code != SL_OK && args[i].err.msg[0])
            print_message("  open: %s\n", args[i].err.msg);
    }
    assert_int_equal(atomic_load(&failed), 0);
    char v[64];
    pg_sql(f, "SELECT count(*) FROM meta", v, sizeof(v));
    assert_string_equal(v, "1|");
}

/* The server ends the session (a restart, a network cut, an operator):
 * the next call reconnects once and succeeds, without an error. */
static void test_pg_reconnect(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(2, "b"), L(1, "a")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, 2);
    const char *want[] = {"a", "b"};
    char sql[256], v[64];
    struct sl_err err;
    import_ok(f->st, &s, 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
             " WHERE application_name = '%s'",
             f->schema);

    pg_sql(f, sql, v, sizeof(v));
    assert_string_equal(v, "1|");
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, want, 2);

    pg_sql(f, sql, v, sizeof(v));
    assert_string_equal(v, "1|");
    assert_sl_ok(sl_store_ping(f->st, &err), &err);

    pg_sql(f, sql, v, sizeof(v));
    assert_string_equal(v, "1|");
    import_ok(f->st, &s, 1); /* nothing was sent yet: retried */
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, want, 2);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A query stops at its deadline: at once when it has passed, else the
 * running statement is cancelled; the connection stays usable. */
static void test_pg_deadline(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_import_log logs[] = {L(1, "a")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, 1);
    const char *want[] = {"a"};
    struct sl_log_page pg;
    struct sl_err err;
    char sql[128];
    import_ok(f->st, &s, 1);

    struct sl_log_query past = {"p1", "svc", 0, now_us() - 1};
    assert_sl_err(sl_store_query_logs(f->st, &past, &pg, &err), SL_ETIMEOUT,
                  &err);
    assert_int_equal(pg.n_logs, 0);

    /* Another session holds a lock that blocks every read of logs. */
    PGconn *locker = pg_admin();
    snprintf(sql, sizeof(sql), "SET search_path = %s", f->schema);
    pg_run(locker, sql, NULL, 0);
    pg_run(locker, "BEGIN; LOCK TABLE logs IN ACCESS EXCLUSIVE MODE", NULL, 0);
    int64_t t0 = now_us();
    struct sl_log_query q = {"p1", "svc", 0, t0 + 300000};
    assert_sl_err(sl_store_query_logs(f->st, &q, &pg, &err), SL_ETIMEOUT, &err);
    int64_t took = now_us() - t0;
    print_message("  blocked query stopped after %lld ms: %s\n",
                  (long long)(took / 1000), err.msg);
    assert_true(took >= 300000 && took < 1300000);
    assert_int_equal(pg.n_logs, 0);
    assert_sl_ok(sl_store_ping(f->st, &err), &err); /* meta: not locked */
    pg_run(locker, "ROLLBACK", NULL, 0);
    PQfinish(locker);
    expect_query(f->st, "p1", "svc", 0, "n", EDGE, want, 1);
}

/* open() is bounded as a whole (--pg-answer-timeout, store_pg_wait.c): a
 * schema check held by a lock fails in time, naming the step and the
 * bound, and leaves the lock holder alone. */
static void test_pg_open_bounded(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_store_options o = {.answer_timeout_ms = 300};
    struct sl_store *st = (struct sl_store *)1;
    struct sl_err err;
    char sql[128];

    PGconn *locker = pg_admin();
    snprintf(sql, sizeof(sql), "SET search_path = %s", f->schema);
    pg_run(locker, sql, NULL, 0);
    pg_run(locker, "BEGIN; LOCK TABLE meta IN ACCESS EXCLUSIVE MODE", NULL, 0);
    int64_t t0 = now_us();
    assert_sl_err(sl_store_open_with(f->uri, &o, &st, &err), SL_ETIMEOUT, &err);
    int64_t took = now_us() - t0;
    print_message("  open stopped after %lld ms: %s\n",
                  (long long)(took / 1000), err.msg);
    assert_null(st);
    assert_true(took >= 300000 && took < 1300000);
    assert_non_null(strstr(err.msg, "did not answer within 300ms at start-up "
                                    "(checking the schema)"));
    assert_non_null(strstr(err.msg, "--pg-answer-timeout"));
    pg_run(locker, "ROLLBACK", NULL, 0);
    PQfinish(locker);
    assert_sl_ok(sl_store_open_with(f->uri, &o, &st, &err), &err);
    sl_store_close(st);
}

struct unlock_arg {
    PGconn *locker;
    int ms;
};

static void *unlock_main(void *arg)
{
    struct unlock_arg *a = arg;
    struct timespec ts = {a->ms / 1000, (long)(a->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    pg_run(a->locker, "ROLLBACK", NULL, 0);
    return NULL;
}

/* An import is bounded by the server's silence, not its length: waiting
 * for another import's turn (its advisory lock) 2.5 times longer than the
 * bound, on a server that answers the probe, goes on and succeeds. (1 s:
 * the probe, a new connection, gets half of it, and ASan under load
 * needs more than 0.1 s.) */
static void test_pg_import_outlasts_bound(void **state)
{
    struct fixture *f = fixture_of(state);
    const struct sl_store_options o = {.answer_timeout_ms = 1000};
    const struct sl_import_log logs[] = {L(1, "a")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, 1);
    const char *want[] = {"a"};
    struct sl_store *st = NULL;
    struct sl_err err;
    char sql[192];
    pthread_t t;

    assert_sl_ok(sl_store_open_with(f->uri, &o, &st, &err), &err);
    struct unlock_arg a = {pg_admin(), 2500};
    snprintf(sql, sizeof(sql), "SET search_path = %s", f->schema);
    pg_run(a.locker, sql, NULL, 0);
    /* PG_LOCK_IMPORT (store_pg.h) on this schema: another import's. */
    pg_run(a.locker,
           "BEGIN; SELECT pg_advisory_xact_lock(1936486248,"
           " hashtext(current_schema()))",
           NULL, 0);
    assert_int_equal(pthread_create(&t, NULL, unlock_main, &a), 0);
    int64_t t0 = now_us();
    int rc = sl_store_import(st, &s, 1, &err);
    int64_t took = now_us() - t0;
    pthread_join(t, NULL); /* before any assert: a is on this stack */
    PQfinish(a.locker);
    print_message("  import waited %lld ms for its turn (bound 1 s)\n",
                  (long long)(took / 1000));
    assert_sl_ok(rc, &err);
    assert_true(took >= 2400000);
    expect_query(st, "p1", "svc", 0, "n", EDGE, want, 1);
    sl_store_close(st);
}

/* A password in the URI never reaches a message. */
static void test_pg_secrets(void **state)
{
    struct fixture *f = fixture_of(state);
    static const char *const uris[] = {
        "postgres://someone:s3cretpw@127.0.0.1:1/db?connect_timeout=2",
        "postgresql://someone:s3cret%zzpw@127.0.0.1:1/db",
        "postgres://someone@127.0.0.1:1/db?password=s3cretpw",
        "postgres://someone@127.0.0.1:1/db?password=s3cret%zzpw",
        "postgres://someone:s3cretpw@127.0.0.1:1/db?nonsense=1",
    };
    for (size_t i = 0; i < N(uris); i++) {
        struct sl_store *st = (struct sl_store *)1;
        struct sl_err err;
        int rc = sl_store_open(uris[i], &st, &err);
        print_message("  %s\n", err.msg);
        assert_int_not_equal(rc, SL_OK);
        assert_null(st);
        assert_null(strstr(err.msg, "s3cret"));
        assert_null(strstr(err.msg, "someone"));
    }
    (void)f;
}

static void test_pg_reimport_rows_identical(void **state)
{
    struct fixture *f = fixture_of(state);
    static const char dump[] =
        "SELECT string_agg(format('%s|%s|%s|%s|%s', project_id, service_id,"
        " seq, update_time, encode(body, 'hex')), ';' ORDER BY project_id,"
        " service_id, update_time, seq) FROM logs"
        " UNION ALL SELECT string_agg(format('%s|%s|%s|%s', project_id,"
        " service_id, service_name, infer_type), ';' ORDER BY project_id,"
        " service_id) FROM services";
    char before[4096], after[4096];
    const struct sl_import_log logs[] = {L(3, "c"), L(1, "a"), L(3, "d")};
    struct sl_import_service s = S("p1", "svc", "n", EDGE, logs, N(logs));
    import_ok(f->st, &s, 1);
    pg_sql(f, dump, before, sizeof(before));
    import_ok(f->st, &s, 1);
    pg_sql(f, dump, after, sizeof(after));
    assert_string_equal(before, after);
    /* seq is the index in the file. */
    pg_sql(f,
           "SELECT string_agg(seq || ':' || update_time, ',' ORDER BY"
           " update_time, seq) FROM logs",
           after, sizeof(after));
    assert_string_equal(after, "1:1,0:3,2:3|");
}

#define PG_CASE(fn)                                                            \
    {                                                                          \
#fn, fn, pg_setup, teardown, NULL                                      \
    }

static const struct CMUnitTest pg_cases[] = {
    PG_CASE(test_pg_schema),
    PG_CASE(test_pg_foreign_schema),
    PG_CASE(test_pg_concurrent_first_open),
    PG_CASE(test_pg_reconnect),
    PG_CASE(test_pg_deadline),
    PG_CASE(test_pg_open_bounded),
    PG_CASE(test_pg_import_outlasts_bound),
    PG_CASE(test_pg_secrets),
    PG_CASE(test_pg_reimport_rows_identical),
};
#endif

/* ---- the registry's helpers --------------------------------------------- */

static void test_uri_redact(void **state)
{
    static const struct {
        const char *uri, *want;
    } rows[] = {
        {"sqlite:/var/lib/x.db", "sqlite:/var/lib/x.db"},
        {"memory:", "memory:"},
        {"postgres://u@h:5432/db", "postgres://u@h:5432/db"},
        {"postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"},
        {"postgresql://u:p%40w@h/db?sslmode=require",
         "postgresql://u:***@h/db?sslmode=require"},
        {"postgres://u:@h/db", "postgres://u:***@h/db"},
        {"postgres://h/db?password=pw", "postgres://h/db?password=***"},
        {"postgres://h/db?sslmode=disable&password=pw&x=1",
         "postgres://h/db?sslmode=disable&password=***&x=1"},
        {"postgres://u:a@b@h/db?password=c",
         "postgres://u:***@h/db?password=***"},
        {"postgres://h/db?xpassword=1", "postgres://h/db?xpassword=1"},
        {"", ""},
    };
    char out[128];
    (void)state;
    for (size_t i = 0; i < N(rows); i++) {
        sl_store_uri_redact(rows[i].uri, out, sizeof(out));
        assert_string_equal(out, rows[i].want);
    }
    char tiny[8];
    sl_store_uri_redact("postgres://u:pw@h/db", tiny, sizeof(tiny));
    assert_string_equal(tiny, "postgre"); /* truncated, terminated */
    sl_store_uri_redact("postgres://u:secret@h/db", tiny, 1);
    assert_string_equal(tiny, "");
}

/* A backend of store.h v1: it has no count_services slot (nor v3 fields);
 * the wrappers must not read past its v1 slots. */
static int v1_query_logs(struct sl_store *st, const struct sl_log_query *q,
                         struct sl_log_page *out, struct sl_err *err)
{
    (void)st;
    (void)q;
    sl_log_page_init(out);
    return sl_err_set(err, SL_ENOTFOUND, "v1: not found");
}

static int v1_import(struct sl_store *st, const struct sl_import_service *svcs,
                     size_t n, struct sl_err *err)
{
    (void)st;
    (void)svcs;
    (void)err;
    return n == 7 ? SL_OK : SL_EIO;
}

static int v1_ping(struct sl_store *st, struct sl_err *err)
{
    (void)st;
    (void)err;
    return SL_OK;
}

static void test_wrappers_gate_versions(void **state)
{
    /* No count_services (NULL: a wrapper that called it would crash), as
     * a real v1 struct has no such member. */
    static const struct sl_store_type v1 = {
        .version = 1,
        .name = "oldie",
        .query_logs = v1_query_logs,
        .import = v1_import,
        .ping = v1_ping,
    };
    struct sl_store st = {&v1};
    struct sl_log_query q = {"p", "s", 0, 0};
    struct sl_log_page pg;
    struct sl_err err;
    size_t n = 99;
    (void)state;
    assert_sl_ok(sl_store_ping(&st, &err), &err);
    assert_sl_ok(sl_store_import(&st, NULL, 7, &err), &err);
    assert_sl_err(sl_store_query_logs(&st, &q, &pg, &err), SL_ENOTFOUND, &err);
    sl_log_page_free(&pg);
    assert_sl_err(sl_store_count_services(&st, &n, &err), SL_EMETHOD, &err);
    assert_int_equal(n, 0);
    assert_string_equal(err.msg, "the oldie backend has no count_services (a "
                                 "store.h v2 slot; the backend implements v1)");
    /* v5: the streaming import; import.c falls back to sl_store_import. */
    assert_sl_err(sl_store_import_begin(&st, &err), SL_EMETHOD, &err);
    assert_string_equal(err.msg, "the oldie backend has no import_begin (a "
                                 "store.h v5 slot; the backend implements v1)");
    assert_sl_err(sl_store_import_add(&st, NULL, 0, &err), SL_EMETHOD, &err);
    assert_sl_err(sl_store_import_end(&st, false, &err), SL_EMETHOD, &err);
}

/* The registry's messages name the built-in backends from their types. */
static void test_open_messages(void **state)
{
#ifdef SL_WITH_PG
#define PG_NAME ", postgres"
#define PG_FORM ", memory: or postgres://..."
#else
#define PG_NAME ""
#define PG_FORM " or memory:"
#endif
    struct sl_store *st = (struct sl_store *)1;
    struct sl_err err;
    (void)state;
    assert_sl_err(sl_store_open("mongo://x", &st, &err), SL_EINVAL, &err);
    assert_null(st);
    assert_string_equal(err.msg, "unknown backend scheme 'mongo' (built in: "
                                 "sqlite, memory" PG_NAME ")");
    assert_sl_err(sl_store_open("nothing", &st, &err), SL_EINVAL, &err);
    assert_string_equal(err.msg, "backend URI 'nothing' has no scheme "
                                 "(expected sqlite:PATH" PG_FORM ")");
    assert_sl_err(sl_store_open(NULL, &st, &err), SL_EINVAL, &err);
    assert_ptr_equal(sl_store_find(NULL), sl_store_find("sqlite"));
    assert_null(sl_store_find("postgres:"));
#ifdef SL_WITH_PG
    assert_ptr_equal(sl_store_find("postgresql"), sl_store_find("postgres"));
#else
    assert_null(sl_store_find("postgres"));
    assert_null(sl_store_find("postgresql"));
#endif
#undef PG_NAME
#undef PG_FORM
}

int main(int argc, char **argv)
{
    int failed = 0;
    if (argc == 3 && strcmp(argv[1], "--record-child") == 0)
        return record_child(argv[2]);
#ifdef SL_WITH_PG
    if (!pg_base_uri())
        printf("skipped: SL_TEST_PG_URI unset (PostgreSQL cases)\n");
#endif
    for (size_t b = 0; b < N(backends); b++) {
        struct CMUnitTest cases[N(contract_cases)];
        for (size_t c = 0; c < N(cases); c++) {
            cases[c] = contract_cases[c];
            cases[c].initial_state = (void *)&backends[b];
        }
        char name[64];
        snprintf(name, sizeof(name), "store contract: %s", backends[b].name);
        failed += _cmocka_run_group_tests(name, cases, N(cases), NULL, NULL);
    }
    const struct CMUnitTest registry_cases[] = {
        cmocka_unit_test(test_uri_redact),
        cmocka_unit_test(test_wrappers_gate_versions),
        cmocka_unit_test(test_open_messages),
    };
    failed += cmocka_run_group_tests_name("store: registry", registry_cases,
                                          NULL, NULL);
    failed += cmocka_run_group_tests_name("store: sqlite only", sqlite_cases,
                                          NULL, NULL);
#ifdef SL_WITH_PG
    failed += cmocka_run_group_tests_name("store: postgres only", pg_cases,
                                          NULL, NULL);
#endif
    return failed ? 1 : 0;
}
