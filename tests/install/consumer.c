/* consumer.c -- a program outside the project that uses the installed
 * client library (tests/integration/test_install.sh builds it against a
 * DESTDIR install, with pkg-config and with find_package(servicelogs)).
 *
 *   consumer HOST:PORT CA_FILE PROJECT SERVICE   (token: SERVICELOGS_TOKEN)
 *
 * Queries one service over TLS and prints one line for the service and one
 * per log: "service_id service_name n_logs", "update_time model_id ...".
 * Exit 0, or 1 with the library's error on stderr. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <servicelogs/client.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: consumer HOST:PORT CA_FILE PROJECT SERVICE\n");
        return 2;
    }
    slc_options o = {.tls_ca = argv[2], .token = getenv("SERVICELOGS_TOKEN")};
    slc_client *c;
    slc_error err;
    if (slc_client_create(argv[1], &o, &c, &err) != SLC_OK) {
        fprintf(stderr, "consumer: %s: %s\n", slc_err_name(err.code),
                err.message);
        return 1;
    }
    slc_request req = {.project_id = argv[3], .service_id = argv[4]};
    slc_result *res;
    int rc = slc_query(c, &req, &res, &err);
    if (rc != SLC_OK) {
        fprintf(stderr, "consumer: %s: %s\n", slc_err_name(rc), err.message);
        slc_client_destroy(c);
        return 1;
    }
    printf("%s %s %zu\n", res->head.service_id, res->head.service_name,
           res->n_logs);
    for (size_t i = 0; i < res->n_logs; i++) {
        printf("%" PRId64, res->logs[i].update_time);
        for (size_t j = 0; j < res->logs[i].n_config; j++)
            printf(" %s", res->logs[i].config[j].model_id);
        printf("\n");
    }
    slc_result_free(res);
    slc_client_destroy(c);
    return 0;
}
