/* tls.h -- TLS material for the gRPC server, the shim and its upstream
 *
 * Files are read once at start-up (PEM). The gRPC side uses the C core's
 * SSL credentials; the shim serves HTTPS through libmicrohttpd's GnuTLS
 * support and dials its upstream with gRPC SSL channel credentials.
 */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <grpc/grpc_security.h>

#include "error.h"

/* Paths from the configuration; NULL or "" means not given. Owner: the
 * caller. */
struct sl_tls_config {
    const char *cert;          /* server certificate chain (PEM) */
    const char *key;           /* its private key (PEM) */
    const char *client_ca;     /* require client certs signed by this CA */
    const char *upstream_ca;   /* shim: CA bundle to verify the upstream */
    const char *upstream_cert; /* shim: client certificate for mutual TLS */
    const char *upstream_key;  /* shim: its private key */
    const char *upstream_name; /* shim: name expected in the upstream's
                                  certificate, if not the target host */
};

/* True when cert (and so TLS) is configured. */
int sl_tls_enabled(const struct sl_tls_config *t);

/* gRPC server credentials: TLS when t has a cert (mutual when it has a
 * client_ca), else insecure. On success the caller owns *out and releases
 * it with grpc_server_credentials_release(); on failure *out is NULL and
 * err names the file and the problem. */
int sl_tls_server_credentials(const struct sl_tls_config *t,
                              grpc_server_credentials **out,
                              struct sl_err *err);

#endif
