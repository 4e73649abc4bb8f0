/* test_http_local.c -- the shim's in-process query path on the memory store
 *
 * sl_http_local_query() runs the gRPC handler's query code with the
 * server's state; these cases hold it to what the handler adds around
 * that code: the shared --max-concurrent-calls places, health (refused
 * without a read, auth checked first), --max-response-bytes, a store
 * connection per thread, and the serving status /healthz reads.
 * (tests/integration/test_rest_modes.sh compares its answers with the
 * gRPC path's byte for byte.)
 */
#include "sl_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "http_local.h"
#include "import.h"
#include "rpc_health.h"
#include "server.h"
#include "store.h"

struct fixture {
    struct sl_store *keep; /* holds the memory store's data */
    struct sl_health *health;
    atomic_int in_flight;
    struct sl_server_local srv;
    struct sl_auth *auth;
    char tokens[64]; /* a tokens file, removed at teardown */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sl_err err;
    size_t ns, nl;
    if (!f || sl_store_open("memory:", &f->keep, &err) != SL_OK ||
        sl_import_file(f->keep, SL_SOURCE_DIR "/demo/demo.json", &ns, &nl,
                       &err) != SL_OK)
        return -1;
    f->health = sl_health_create();
    atomic_init(&f->in_flight, 0);
    f->srv = (struct sl_server_local){
        .backend = "memory:",
        .health = f->health,
        .in_flight = &f->in_flight,
        .max_in_flight = 4,
        .query_timeout_ms = 5000,
        .max_response_bytes = 65536,
    };
    *state = f;
    return f->health ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sl_auth_destroy(f->auth);
    if (f->tokens[0])
        unlink(f->tokens);
    sl_health_destroy(f->health);
    sl_store_close(f->keep);
    free(f);
    return 0;
}

static struct sl_route route(const char *project, const char *service,
                             int64_t update_time)
{
    return (struct sl_route){
        .route = SL_HTTP_ROUTE_LOGS,
        .project_id = project,
        .project_len = strlen(project),
        .service_id = service,
        .service_len = strlen(service),
        .update_time = update_time,
    };
}

/* One query through l; returns its code, *logs the answer's log count. */
static int ask(struct sl_http_local *l, const char *service, const char *token,
               int64_t update_time, size_t *logs, struct sl_err *err)
{
    Modelarts__V1__QueryServiceLogsResponse *r = NULL;
    struct sl_route rt = route("demo-project", service, update_time);
    sl_err_clear(err);
    int rc = sl_http_local_query(l, &rt, token, &r, err);
    *logs = r ? r->n_logs : 0;
    if (rc == SL_OK) {
        assert_non_null(r);
        assert_string_equal(r->service_id, service);
    } else {
        assert_null(r);
    }
    modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    return rc;
}

static void test_answers_and_errors(void **state)
{
    struct fixture *f = *state;
    struct sl_http_local *l = NULL;
    struct sl_err err;
    size_t n;
    assert_sl_ok(sl_http_local_open(&f->srv, 1, 5000, &l, &err), &err);
    assert_sl_ok(ask(l, "mnist-svc", NULL, 0, &n, &err), &err);
    assert_int_equal(n, 2);
    assert_sl_ok(ask(l, "mnist-svc", NULL, 123432423, &n, &err), &err);
    assert_int_equal(n, 1);
    assert_sl_err(ask(l, "nope", NULL, 0, &n, &err), SL_ENOTFOUND, &err);
    assert_string_equal(err.msg, "service nope not found in project "
                                 "demo-project");
    assert_sl_err(ask(l, "batch-svc", NULL, 0, &n, &err), SL_EBATCH, &err);
    assert_int_equal(atomic_load(&f->in_flight), 0); /* every place back */
    sl_http_local_close(l);
}

static void test_shares_the_places(void **state)
{
    struct fixture *f = *state;
    struct sl_http_local *l = NULL;
    struct sl_err err;
    size_t n;
    assert_sl_ok(sl_http_local_open(&f->srv, 1, 5000, &l, &err), &err);
    atomic_store(&f->in_flight, 4); /* gRPC calls hold every place */
    assert_sl_err(ask(l, "mnist-svc", NULL, 0, &n, &err), SL_EOVERLOAD, &err);
    assert_string_equal(err.msg,
                        "server overloaded: 4 calls in flight; retry later");
    assert_int_equal(atomic_load(&f->in_flight), 4);
    atomic_store(&f->in_flight, 3); /* one free */
    assert_sl_ok(ask(l, "mnist-svc", NULL, 0, &n, &err), &err);
    assert_int_equal(atomic_load(&f->in_flight), 3);
    atomic_store(&f->in_flight, 0);
    sl_http_local_close(l);
}

static void test_too_big(void **state)
{
    struct fixture *f = *state;
    struct sl_http_local *l = NULL;
    struct sl_err err;
    size_t n;
    f->srv.max_response_bytes = 100;
    assert_sl_ok(sl_http_local_open(&f->srv, 1, 5000, &l, &err), &err);
    assert_sl_err(ask(l, "mnist-svc", NULL, 0, &n, &err), SL_ETOOBIG, &err);
    assert_non_null(strstr(err.msg, "is larger than --max-response-bytes "
                                    "(100); ask for less (update_time)"));
    sl_http_local_close(l);
}

static void test_health_and_auth(void **state)
{
    struct fixture *f = *state;
    struct sl_http_local *l = NULL;
    struct sl_err err;
    size_t n;
    snprintf(f->tokens, sizeof(f->tokens), "/tmp/sl-test-local.XXXXXX");
    int fd = mkstemp(f->tokens);
    assert_true(fd >= 0);
    const char text[] = "tok-a demo-project\ntok-b other-project\n";
    assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
    close(fd);
    assert_sl_ok(sl_auth_open(f->tokens, &f->auth, &err), &err);
    f->srv.auth = f->auth;
    assert_sl_ok(sl_http_local_open(&f->srv, 1, 5000, &l, &err), &err);

    assert_sl_ok(ask(l, "mnist-svc", "tok-a", 0, &n, &err), &err);
    assert_sl_err(ask(l, "mnist-svc", NULL, 0, &n, &err), SL_ENOTOKEN, &err);
    assert_sl_err(ask(l, "mnist-svc", "tok-x", 0, &n, &err), SL_EBADTOKEN,
                  &err);
    assert_sl_err(ask(l, "mnist-svc", "tok-b", 0, &n, &err), SL_EFORBIDDEN,
                  &err);
    assert_int_equal(sl_http_local_health(l), SL_SERVING);

    /* The backend down: refused without a read, after the auth check. */
    sl_health_set_backend(f->health, false, "test");
    assert_int_equal(sl_http_local_health(l), SL_NOT_SERVING);
    assert_sl_err(ask(l, "mnist-svc", "tok-a", 0, &n, &err), SL_EUNAVAIL, &err);
    assert_string_equal(err.msg,
                        "the log store is unavailable; try again later");
    assert_sl_err(ask(l, "mnist-svc", NULL, 0, &n, &err), SL_ENOTOKEN, &err);
    sl_health_set_backend(f->health, true, NULL);
    assert_int_equal(sl_http_local_health(l), SL_SERVING);
    sl_health_set_draining(f->health);
    assert_int_equal(sl_http_local_health(l), SL_NOT_SERVING);
    sl_http_local_close(l);
}

struct worker_arg {
    struct sl_http_local *l;
    int ok; /* queries answered SL_OK */
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    for (int i = 0; i < 50; i++) {
        Modelarts__V1__QueryServiceLogsResponse *r = NULL;
        struct sl_route rt = route("demo-project", "edge-svc", 0);
        struct sl_err err;
        if (sl_http_local_query(a->l, &rt, NULL, &r, &err) == SL_OK)
            a->ok++;
        modelarts__v1__query_service_logs_response__free_unpacked(r, NULL);
    }
    return NULL;
}

/* More threads than connections opened at start: each gets one. */
static void test_threads(void **state)
{
    struct fixture *f = *state;
    struct sl_http_local *l = NULL;
    struct sl_err err;
    assert_sl_ok(sl_http_local_open(&f->srv, 1, 5000, &l, &err), &err);
    pthread_t t[4];
    struct worker_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct worker_arg){.l = l};
        assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 50);
    }
    assert_int_equal(atomic_load(&f->in_flight), 0);
    sl_http_local_close(l);
}

static void test_open_fails(void **state)
{
    struct fixture *f = *state;
    struct sl_http_local *l = (struct sl_http_local *)state; /* not NULL */
    struct sl_err err;
    f->srv.backend = "nosuch:x";
    assert_int_not_equal(sl_http_local_open(&f->srv, 2, 5000, &l, &err), SL_OK);
    assert_null(l);
    sl_http_local_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_answers_and_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shares_the_places, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_and_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
