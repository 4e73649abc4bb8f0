/* tls.c -- reading and checking TLS files; gRPC SSL credentials
 *
 * Every file is read whole into a NUL-terminated buffer (gRPC takes PEM
 * as C strings and copies it; libmicrohttpd takes it the same way) and
 * parsed with GnuTLS, which the shim's HTTPS needs anyway, so a bad file
 * is reported at start-up, by name, instead of as a failed handshake
 * later. GnuTLS only checks here; the gRPC listener and channel use the
 * C core's own TLS (OpenSSL on Debian).
 *
 * Ownership: every buffer and GnuTLS object is local to one function and
 * freed at its single `out:` label; private key text is wiped before it
 * is freed.
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <grpc/grpc.h>

#include "addr.h"
#include "log.h"

#define SL_TLS_KEY_ID_MAX 64 /* bytes of a key id (SHA-1: 20) */

static bool given(const char *s)
{
    return s && *s;
}

int sl_tls_enabled(const struct sl_tls_config *t)
{
    return t && given(t->cert);
}

int sl_tls_upstream_enabled(const struct sl_tls_config *t)
{
    return t && given(t->upstream_ca);
}

/* Wipes and frees a buffer that held private key text. */
static void free_secret(char *p)
{
    if (p) {
        explicit_bzero(p, strlen(p));
        free(p);
    }
}

void sl_tls_pem_free(struct sl_tls_pem *p)
{
    if (!p)
        return;
    free(p->cert);
    free_secret(p->key);
    free(p->client_ca);
    memset(p, 0, sizeof(*p));
}

/* Reads path (the value of --flag) whole: *out is a NUL-terminated
 * malloc'd copy, owned by the caller. */
static int read_pem(const char *flag, const char *path, char **out,
                    struct sl_err *err)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = SL_OK;

    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_err_set(err, SL_EINVAL, "--%s %s: cannot read: %s", flag,
                          path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = sl_err_set(err, SL_EINVAL, "--%s %s: cannot read: %s", flag, path,
                        strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = sl_err_set(err, SL_EINVAL, "--%s %s: cannot read: %s", flag, path,
                        "is a directory");
        goto out;
    }
    buf = malloc(SL_TLS_MAX_FILE + 1);
    if (!buf) {
        rc = sl_err_set(err, SL_ENOMEM, "--%s %s: out of memory", flag, path);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, SL_TLS_MAX_FILE + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = sl_err_set(err, SL_EINVAL, "--%s %s: cannot read: %s", flag,
                            path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SL_TLS_MAX_FILE) {
            rc = sl_err_set(err, SL_EINVAL,
                            "--%s %s: larger than %d bytes: not a PEM file",
                            flag, path, SL_TLS_MAX_FILE);
            goto out;
        }
    }
    if (memchr(buf, '\0', len)) {
        rc = sl_err_set(err, SL_EINVAL,
                        "--%s %s: binary data: not a PEM file (DER? convert "
                        "it with openssl x509 -outform PEM)",
                        flag, path);
        goto out;
    }
    buf[len] = '\0';
    *out = buf;
    buf = NULL;
out:
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    close(fd);
    return rc;
}

static gnutls_datum_t datum(const char *pem)
{
    gnutls_datum_t d = {(unsigned char *)pem, (unsigned int)strlen(pem)};
    return d;
}

static void free_certs(gnutls_x509_crt_t *crts, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    gnutls_free(crts);
}

/* Parses the certificates of pem (the file of --flag path). On success
 * the caller frees *crts with free_certs(*crts, *n). */
static int parse_certs(const char *flag, const char *path, const char *pem,
                       gnutls_x509_crt_t **crts, unsigned int *n,
                       struct sl_err *err)
{
    gnutls_datum_t d = datum(pem);

    *crts = NULL;
    *n = 0;
    int ret = gnutls_x509_crt_list_import2(crts, n, &d, GNUTLS_X509_FMT_PEM, 0);
    if (ret < 0 || *n == 0) {
        if (ret >= 0)
            free_certs(*crts, *n);
        *crts = NULL;
        *n = 0;
        return sl_err_set(err, SL_EINVAL,
                          "--%s %s: no PEM certificate in it (%s)", flag, path,
                          ret < 0 ? gnutls_strerror(ret) : "empty");
    }
    return SL_OK;
}

/* Reads and parses a certificate file; *pem (the text) is the caller's. */
static int load_certs(const char *flag, const char *path, char **pem,
                      struct sl_err *err)
{
    gnutls_x509_crt_t *crts;
    unsigned int n;

    int rc = read_pem(flag, path, pem, err);
    if (rc == SL_OK)
        rc = parse_certs(flag, path, *pem, &crts, &n, err);
    if (rc != SL_OK) {
        free(*pem);
        *pem = NULL;
        return rc;
    }
    free_certs(crts, n);
    return SL_OK;
}

/* Logs a warning when crt (the first of --flag path) is expired or not
 * yet valid: clients will refuse it, but a clock may be wrong too. */
static void warn_validity(const char *flag, const char *path,
                          gnutls_x509_crt_t crt)
{
    time_t now = time(NULL);
    time_t from = gnutls_x509_crt_get_activation_time(crt);
    time_t until = gnutls_x509_crt_get_expiration_time(crt);

    if (until != (time_t)-1 && now > until)
        sl_log(SL_LOG_WARN,
               "tls: --%s %s: the certificate expired %lld s ago; peers "
               "will refuse it",
               flag, path, (long long)(now - until));
    else if (from != (time_t)-1 && now < from)
        sl_log(SL_LOG_WARN,
               "tls: --%s %s: the certificate is not valid for another "
               "%lld s; peers will refuse it",
               flag, path, (long long)(from - now));
}

/* Reads a certificate chain and its key, and checks that they belong
 * together: the key's public half is the first certificate's. On success
 * *cert_pem and *key_pem are the caller's (free, free_secret). */
static int load_pair(const char *cert_flag, const char *cert_path,
                     const char *key_flag, const char *key_path,
                     char **cert_pem, char **key_pem, struct sl_err *err)
{
    gnutls_x509_crt_t *crts = NULL;
    unsigned int n = 0;
    gnutls_x509_privkey_t key = NULL;
    unsigned char cid[SL_TLS_KEY_ID_MAX], kid[SL_TLS_KEY_ID_MAX];
    size_t clen = sizeof(cid), klen = sizeof(kid);
    gnutls_datum_t kd;
    int ret;

    *cert_pem = NULL;
    *key_pem = NULL;
    int rc = read_pem(cert_flag, cert_path, cert_pem, err);
    if (rc != SL_OK)
        goto out;
    rc = parse_certs(cert_flag, cert_path, *cert_pem, &crts, &n, err);
    if (rc != SL_OK)
        goto out;
    rc = read_pem(key_flag, key_path, key_pem, err);
    if (rc != SL_OK)
        goto out;
    kd = datum(*key_pem);
    if ((ret = gnutls_x509_privkey_init(&key)) < 0 ||
        (ret = gnutls_x509_privkey_import2(key, &kd, GNUTLS_X509_FMT_PEM, NULL,
                                           0)) < 0) {
        rc = sl_err_set(err, SL_EINVAL,
                        "--%s %s: no unencrypted PEM private key in it (%s)",
                        key_flag, key_path, gnutls_strerror(ret));
        goto out;
    }
    if (gnutls_x509_crt_get_key_id(crts[0], 0, cid, &clen) < 0 ||
        gnutls_x509_privkey_get_key_id(key, 0, kid, &klen) < 0 ||
        clen != klen || memcmp(cid, kid, clen) != 0) {
        rc = sl_err_set(err, SL_EINVAL,
                        "--%s %s: this key does not belong to the certificate "
                        "in --%s %s (its first certificate must be the one "
                        "of this key)",
                        key_flag, key_path, cert_flag, cert_path);
        goto out;
    }
    warn_validity(cert_flag, cert_path, crts[0]);
    rc = SL_OK;
out:
    if (key)
        gnutls_x509_privkey_deinit(key);
    if (crts)
        free_certs(crts, n);
    if (rc != SL_OK) {
        free(*cert_pem);
        free_secret(*key_pem);
        *cert_pem = NULL;
        *key_pem = NULL;
    }
    return rc;
}

int sl_tls_load_server(const struct sl_tls_config *t, struct sl_tls_pem *out,
                       struct sl_err *err)
{
    memset(out, 0, sizeof(*out));
    if (!t)
        return SL_OK;
    if (!given(t->cert)) {
        if (given(t->key))
            return sl_err_set(err, SL_EINVAL,
                              "--tls-key needs --tls-cert (its certificate)");
        if (given(t->client_ca))
            return sl_err_set(err, SL_EINVAL,
                              "--tls-client-ca needs --tls-cert and "
                              "--tls-key (mutual TLS is TLS first)");
        return SL_OK;
    }
    if (!given(t->key))
        return sl_err_set(err, SL_EINVAL,
                          "--tls-cert %s needs --tls-key (its private key)",
                          t->cert);
    int rc = load_pair("tls-cert", t->cert, "tls-key", t->key, &out->cert,
                       &out->key, err);
    if (rc == SL_OK && given(t->client_ca))
        rc = load_certs("tls-client-ca", t->client_ca, &out->client_ca, err);
    if (rc != SL_OK)
        sl_tls_pem_free(out);
    return rc;
}

int sl_tls_server_credentials(const struct sl_tls_config *t,
                              grpc_server_credentials **out, struct sl_err *err)
{
    struct sl_tls_pem pem;

    *out = NULL;
    int rc = sl_tls_load_server(t, &pem, err);
    if (rc != SL_OK)
        return rc;
    if (!pem.cert) {
        *out = grpc_insecure_server_credentials_create();
    } else {
        /* gRPC copies the strings. */
        grpc_ssl_pem_key_cert_pair pair = {pem.key, pem.cert};
        *out = grpc_ssl_server_credentials_create_ex(
            pem.client_ca, &pair, 1,
            pem.client_ca
                ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
    }
    sl_tls_pem_free(&pem);
    if (!*out)
        return sl_err_set(err, SL_EINTERNAL,
                          "cannot create the gRPC server credentials");
    return SL_OK;
}

int sl_tls_channel_credentials(const struct sl_tls_config *t,
                               grpc_channel_credentials **out,
                               struct sl_err *err)
{
    char *ca = NULL, *cert = NULL, *key = NULL;
    int rc = SL_OK;

    *out = NULL;
    if (t && given(t->upstream_cert) != given(t->upstream_key))
        return sl_err_set(err, SL_EINVAL,
                          given(t->upstream_cert)
                              ? "--upstream-cert needs --upstream-key"
                              : "--upstream-key needs --upstream-cert");
    if (!sl_tls_upstream_enabled(t)) {
        if (t && (given(t->upstream_cert) || given(t->upstream_name)))
            return sl_err_set(err, SL_EINVAL,
                              "--%s needs --upstream-ca (the CA that signed "
                              "the upstream's certificate): without it the "
                              "upstream is dialled in plaintext",
                              given(t->upstream_cert) ? "upstream-cert"
                                                      : "upstream-name");
        *out = grpc_insecure_credentials_create();
        goto out;
    }
    rc = load_certs("upstream-ca", t->upstream_ca, &ca, err);
    if (rc != SL_OK)
        goto out;
    if (given(t->upstream_cert)) {
        rc = load_pair("upstream-cert", t->upstream_cert, "upstream-key",
                       t->upstream_key, &cert, &key, err);
        if (rc != SL_OK)
            goto out;
    }
    /* gRPC copies the strings. */
    grpc_ssl_pem_key_cert_pair pair = {key, cert};
    *out = grpc_ssl_credentials_create_ex(ca, cert ? &pair : NULL, NULL, NULL);
out:
    free(ca);
    free(cert);
    free_secret(key);
    if (rc == SL_OK && !*out)
        rc = sl_err_set(err, SL_EINTERNAL,
                        "cannot create the gRPC channel credentials");
    return rc;
}

/* ---- the in-process shim's hop ----------------------------------------- */

/* Verifies chain_pem (leaf first) against the CAs in ca_pem, for name
 * (when not NULL) and key purpose, ignoring validity periods (those are
 * warned about at load). Returns true when it verifies; else why gets
 * GnuTLS's explanation. */
static bool verifies(const char *ca_pem, const char *chain_pem,
                     const char *name, const char *purpose, char *why,
                     size_t why_len)
{
    gnutls_x509_trust_list_t tl = NULL;
    gnutls_x509_crt_t *chain = NULL;
    unsigned int n = 0, status = 0;
    gnutls_datum_t cas = datum(ca_pem);
    gnutls_datum_t cd = datum(chain_pem);
    gnutls_datum_t text = {NULL, 0};
    gnutls_typed_vdata_st data[2];
    unsigned int nd = 0;
    bool ok = false;
    int ret;

    snprintf(why, why_len, "cannot verify");
    if ((ret = gnutls_x509_trust_list_init(&tl, 0)) < 0 ||
        (ret = gnutls_x509_trust_list_add_trust_mem(
             tl, &cas, NULL, GNUTLS_X509_FMT_PEM, 0, 0)) <= 0 ||
        (ret = gnutls_x509_crt_list_import2(&chain, &n, &cd,
                                            GNUTLS_X509_FMT_PEM, 0)) < 0) {
        snprintf(why, why_len, "%s",
                 ret < 0 ? gnutls_strerror(ret) : "no CA certificate");
        goto out;
    }
    if (name) {
        data[nd].type = GNUTLS_DT_DNS_HOSTNAME; /* IP addresses too */
        data[nd].data = (unsigned char *)name;
        data[nd].size = 0;
        nd++;
    }
    data[nd].type = GNUTLS_DT_KEY_PURPOSE_OID;
    data[nd].data = (unsigned char *)purpose;
    data[nd].size = 0;
    nd++;
    ret = gnutls_x509_trust_list_verify_crt2(
        tl, chain, n, data, nd,
        GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
            GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
        &status, NULL);
    if (ret < 0) {
        snprintf(why, why_len, "%s", gnutls_strerror(ret));
        goto out;
    }
    if (status == 0) {
        ok = true;
        goto out;
    }
    if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509,
                                                     &text, 0) == 0) {
        const char *t = (const char *)text.data;
        const char *lead = "The certificate is NOT trusted. ";
        if (strncmp(t, lead, strlen(lead)) == 0)
            t += strlen(lead); /* said by the caller's message already */
        snprintf(why, why_len, "%s", t);
        gnutls_free(text.data);
        for (size_t i = strlen(why); i > 0 && why[i - 1] == ' '; i--)
            why[i - 1] = '\0';
    }
out:
    if (chain)
        free_certs(chain, n);
    if (tl)
        gnutls_x509_trust_list_deinit(tl, 1);
    return ok;
}

/* Whether pem holds a self-signed certificate (subject = issuer): what
 * OpenSSL needs at the end of a trusted chain. */
static bool has_root(const char *pem)
{
    gnutls_x509_crt_t *crts = NULL;
    unsigned int n = 0;
    gnutls_datum_t d = datum(pem);
    bool found = false;

    if (gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0) < 0)
        return false;
    for (unsigned int i = 0; i < n && !found; i++)
        found = gnutls_x509_crt_check_issuer(crts[i], crts[i]) != 0;
    free_certs(crts, n);
    return found;
}

int sl_tls_self_upstream(const struct sl_tls_config *srv, const char *target,
                         struct sl_tls_config *out, struct sl_err *err)
{
    char *root = NULL, *chain = NULL, *client = NULL, *ca = NULL;
    char host[256];
    char why[SL_ERR_MSG_LEN];
    const char *root_flag = "upstream-ca";
    const char *client_flag = "upstream-cert";
    int rc = SL_OK;

    memset(out, 0, sizeof(*out));
    if (!sl_tls_enabled(srv)) {
        if (srv && (given(srv->upstream_ca) || given(srv->upstream_cert) ||
                    given(srv->upstream_key) || given(srv->upstream_name)))
            return sl_err_set(err, SL_EINVAL,
                              "--upstream-ca, --upstream-cert, --upstream-key "
                              "and --upstream-name are for a TLS upstream, "
                              "but the in-process gRPC server has no "
                              "--tls-cert");
        return SL_OK;
    }
    *out = *srv;
    /* Trust: --upstream-ca, else the server's own chain file. */
    if (!given(srv->upstream_ca)) {
        out->upstream_ca = srv->cert;
        root_flag = "tls-cert";
    }
    rc = read_pem(root_flag, out->upstream_ca, &root, err);
    if (rc != SL_OK)
        goto out;
    if (!given(srv->upstream_ca) && !has_root(root)) {
        rc = sl_err_set(err, SL_EINVAL,
                        "--tls-cert %s holds no self-signed (root) "
                        "certificate, so the in-process shim cannot use it "
                        "as its trust anchor: give --upstream-ca CA_FILE",
                        srv->cert);
        goto out;
    }
    rc = read_pem("tls-cert", srv->cert, &chain, err);
    if (rc != SL_OK)
        goto out;
    if (given(srv->upstream_name))
        snprintf(host, sizeof(host), "%s", srv->upstream_name);
    else {
        struct sl_addr a;
        sl_addr_split(target, &a, NULL); /* host "" when unparsable */
        snprintf(host, sizeof(host), "%s", a.host);
    }
    if (!verifies(root, chain, host, GNUTLS_KP_TLS_WWW_SERVER, why,
                  sizeof(why))) {
        rc = sl_err_set(err, SL_EINVAL,
                        "--tls-cert %s: not trusted by the in-process shim "
                        "for '%s' under --%s (set --upstream-name or "
                        "--upstream-ca): %s",
                        srv->cert, host, root_flag, why);
        goto out;
    }

    /* Mutual TLS: the shim's client certificate. */
    if (!given(srv->client_ca))
        goto out;
    if (given(srv->upstream_cert) != given(srv->upstream_key)) {
        rc = sl_err_set(err, SL_EINVAL,
                        given(srv->upstream_cert)
                            ? "--upstream-cert needs --upstream-key"
                            : "--upstream-key needs --upstream-cert");
        goto out;
    }
    if (!given(srv->upstream_cert)) {
        out->upstream_cert = srv->cert;
        out->upstream_key = srv->key;
        client_flag = "tls-cert";
    }
    rc = read_pem(client_flag, out->upstream_cert, &client, err);
    if (rc == SL_OK)
        rc = read_pem("tls-client-ca", srv->client_ca, &ca, err);
    if (rc != SL_OK)
        goto out;
    if (!verifies(ca, client, NULL, GNUTLS_KP_TLS_WWW_CLIENT, why,
                  sizeof(why))) {
        rc = sl_err_set(err, SL_EINVAL,
                        "--%s %s: not accepted under --tls-client-ca as the "
                        "in-process shim's client certificate (give "
                        "--upstream-cert/--upstream-key): %s",
                        client_flag, out->upstream_cert, why);
        goto out;
    }
out:
    free(root);
    free(chain);
    free(client);
    free(ca);
    if (rc != SL_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
