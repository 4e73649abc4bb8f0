/* tls.h -- TLS material for the gRPC server, the shim and its upstream
 *
 * Files are read once at start-up (PEM) and checked with GnuTLS before
 * anything listens: gRPC's own TLS (OpenSSL) would only fail lazily, at
 * the first handshake, so a missing file, a file that holds no
 * certificate or key, or a key that does not belong to its certificate is
 * a start-up error naming the flag and the file. The gRPC side uses the C
 * core's SSL credentials; the shim serves HTTPS through libmicrohttpd's
 * GnuTLS support and dials its upstream with gRPC SSL channel credentials.
 *
 * Error messages name the flags of config.c (--tls-cert, --upstream-ca,
 * ...): each field of struct sl_tls_config is one of them.
 *
 * THREAD SAFETY: every function is reentrant; none keeps state.
 */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <grpc/grpc_security.h>

#include "error.h"

/* Largest PEM file read (a certificate chain or CA bundle). */
#define SL_TLS_MAX_FILE (1024 * 1024)

/* Paths from the configuration; NULL or "" means not given. Owner: the
 * caller. */
struct sl_tls_config {
    const char *cert;          /* server certificate chain (PEM), leaf
                                  first */
    const char *key;           /* its private key (PEM, unencrypted) */
    const char *client_ca;     /* require client certs signed by this CA */
    const char *upstream_ca;   /* shim: CA bundle to verify the upstream;
                                  given: the upstream is dialled over TLS */
    const char *upstream_cert; /* shim: client certificate for mutual TLS */
    const char *upstream_key;  /* shim: its private key */
    const char *upstream_name; /* shim: name expected in the upstream's
                                  certificate, if not the target host */
};

/* The server side's files, read and checked: NUL-terminated PEM text.
 * Owner: whoever called sl_tls_load_server(); freed with
 * sl_tls_pem_free(). */
struct sl_tls_pem {
    char *cert;      /* certificate chain; NULL when TLS is off */
    char *key;       /* its private key; NULL when TLS is off */
    char *client_ca; /* client CA bundle; NULL: no client certificates */
};

/* True when t is not NULL and has a cert (and so TLS is configured). */
int sl_tls_enabled(const struct sl_tls_config *t);

/* True when t is not NULL and has an upstream_ca: the shim's upstream is
 * dialled over TLS. */
int sl_tls_upstream_enabled(const struct sl_tls_config *t);

/* Reads and checks cert, key and client_ca of t (t NULL or without a
 * cert: TLS off, SL_OK with *out all NULL). Checks: key and client_ca
 * need cert, cert needs key; each file is readable, at most
 * SL_TLS_MAX_FILE bytes, and PEM holding what it should (certificates;
 * one private key); the key belongs to the first certificate of cert. A
 * certificate outside its validity period is only logged (warn). On
 * success the caller owns *out (sl_tls_pem_free); on failure *out is all
 * NULL and err names the flag, the file and the problem (SL_EINVAL). */
int sl_tls_load_server(const struct sl_tls_config *t, struct sl_tls_pem *out,
                       struct sl_err *err);

/* Frees what p holds and zeroes it. Accepts NULL. */
void sl_tls_pem_free(struct sl_tls_pem *p);

/* gRPC server credentials: TLS when t has a cert (mutual when it has a
 * client_ca: GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY),
 * else insecure. The files are checked as by sl_tls_load_server. On
 * success the caller owns *out and releases it with
 * grpc_server_credentials_release(); on failure *out is NULL and err
 * names the file and the problem. Call after grpc_init(). */
int sl_tls_server_credentials(const struct sl_tls_config *t,
                              grpc_server_credentials **out,
                              struct sl_err *err);

/* gRPC channel credentials for the shim's upstream: SSL trusting
 * upstream_ca (with upstream_cert/upstream_key as the client certificate
 * when given) when t has an upstream_ca, else insecure. upstream_cert and
 * upstream_key go together and need upstream_ca; the files are checked
 * like the server's. The expected name (upstream_name) is not part of the
 * credentials: the caller passes it as GRPC_SSL_TARGET_NAME_OVERRIDE_ARG.
 * Ownership and failure as sl_tls_server_credentials; release with
 * grpc_channel_credentials_release(). Call after grpc_init(). */
int sl_tls_channel_credentials(const struct sl_tls_config *t,
                               grpc_channel_credentials **out,
                               struct sl_err *err);

/* The TLS configuration of the in-process shim, which dials the server's
 * own listener at target ("HOST:PORT"), from the server's configuration
 * srv. When srv has no cert, the hop is plaintext and srv must have no
 * upstream_* either (SL_EINVAL: they would make the shim dial TLS to a
 * plaintext port). When srv has a cert:
 * - trust: srv->upstream_ca when given, else the server's own cert file,
 *   which must then hold a self-signed (root) certificate (OpenSSL, under
 *   gRPC, only trusts a chain that ends in one);
 * - expected name: srv->upstream_name, else the host of target;
 * - client certificate, in mutual mode (srv->client_ca): srv's
 *   upstream_cert/upstream_key when given, else the server's own
 *   cert/key, which must then be fit for client authentication;
 * and the result is checked with GnuTLS at once: the server's chain must
 * verify for the expected name against the trust, and the client
 * certificate against client_ca (signatures, names, key purposes; not
 * the validity period), so a configuration that would fail every REST
 * call fails start-up instead, naming the flag to set.
 * *out gets srv's fields with the defaults filled in; its strings point
 * into srv's, so srv must outlive it. On failure err says why (SL_EINVAL)
 * and *out is zeroed. */
int sl_tls_self_upstream(const struct sl_tls_config *srv, const char *target,
                         struct sl_tls_config *out, struct sl_err *err);

#endif
