/* creds.c -- libslc's channel credentials: plaintext, or TLS from PEM files
 *
 * The files of slc_options.tls_* are read whole when the client is
 * created and checked for the PEM blocks they must hold, so a missing,
 * unreadable or wrong file is an SLC_EINVAL from slc_client_create()
 * naming the option and the path, not a "Socket closed" at the first
 * call. The check is structural (BEGIN/END lines, base64 text that opens
 * a DER SEQUENCE), not cryptographic: the library links no TLS code of
 * its own, and what only a handshake can tell (a key that does not belong
 * to its certificate, a CA that did not sign the server's certificate)
 * shows up as SLC_EUNAVAILABLE from the first call.
 *
 * Ownership: every buffer is local to slc__channel_creds() and freed at
 * its single `out:` label (gRPC copies the PEM text); the private key's
 * text is wiped before it is freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "slc_internal.h"

/* What a PEM file must hold. */
enum pem_kind {
    PEM_CERTS, /* one or more CERTIFICATE blocks */
    PEM_KEY,   /* one unencrypted private key */
};

static bool given(const char *s)
{
    return s && s[0];
}

static bool b64_char(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (ch >= '0' && ch <= '9') || ch == '+' || ch == '/' || ch == '=';
}

/* Checks the block whose body starts at p (after the BEGIN line) up to
 * its "-----END <label>-----" line: base64 text opening with "MI" (a DER
 * SEQUENCE with a long length, as every certificate and key has). Returns
 * the text after the END line, or NULL. */
static const char *pem_block_end(const char *p, const char *label)
{
    char end[64];
    snprintf(end, sizeof(end), "-----END %s-----", label);
    const char *e = strstr(p, end);
    if (!e)
        return NULL;
    while (p < e && (*p == '\r' || *p == '\n'))
        p++;
    if (e - p < 2 || p[0] != 'M' || p[1] != 'I')
        return NULL;
    for (; p < e; p++)
        if (!b64_char(*p) && *p != '\r' && *p != '\n')
            return NULL;
    return e + strlen(end);
}

/* Checks pem (the text of option `opt`, file path) holds what kind needs;
 * SLC_OK or SLC_EINVAL naming both. */
static int pem_check(const char *opt, const char *path, const char *pem,
                     enum pem_kind kind, slc_error *err)
{
    static const char *const key_labels[] = {"PRIVATE KEY", "EC PRIVATE KEY",
                                             "RSA PRIVATE KEY"};
    if (kind == PEM_CERTS) {
        int n = 0;
        const char *begin = "-----BEGIN CERTIFICATE-----";
        for (const char *p = strstr(pem, begin); p; p = strstr(p, begin)) {
            p = pem_block_end(p + strlen(begin), "CERTIFICATE");
            if (!p)
                return slc__err_set(err, SLC_EINVAL, -1,
                                    "%s %s: a broken PEM certificate block",
                                    opt, path);
            n++;
        }
        if (n == 0)
            return slc__err_set(err, SLC_EINVAL, -1,
                                "%s %s: no PEM certificate in it", opt, path);
        return SLC_OK;
    }
    if (strstr(pem, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
        strstr(pem, "Proc-Type: 4,ENCRYPTED"))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "%s %s: an encrypted private key (decrypt it "
                            "with openssl pkey)",
                            opt, path);
    for (size_t i = 0; i < sizeof(key_labels) / sizeof(key_labels[0]); i++) {
        char begin[64];
        snprintf(begin, sizeof(begin), "-----BEGIN %s-----", key_labels[i]);
        const char *p = strstr(pem, begin);
        if (!p)
            continue;
        if (!pem_block_end(p + strlen(begin), key_labels[i]))
            return slc__err_set(err, SLC_EINVAL, -1,
                                "%s %s: a broken PEM private key block", opt,
                                path);
        return SLC_OK;
    }
    return slc__err_set(err, SLC_EINVAL, -1,
                        "%s %s: no unencrypted PEM private key in it", opt,
                        path);
}

/* Reads path (the value of option opt) whole into a NUL-terminated
 * malloc'd *out, owned by the caller, and checks it holds kind. On
 * failure *out is NULL and err names opt, path and the problem. */
static int read_pem(const char *opt, const char *path, enum pem_kind kind,
                    char **out, slc_error *err)
{
    size_t len = 0;
    int rc = SLC_OK;
    char *buf = NULL;

    *out = NULL;
    FILE *f = fopen(path, "rbe");
    if (!f)
        return slc__err_set(err, SLC_EINVAL, -1, "%s %s: cannot read: %s", opt,
                            path, strerror(errno));
    buf = malloc(SLC_TLS_MAX_FILE + 1);
    if (!buf) {
        rc = slc__err_set(err, SLC_ENOMEM, -1, "%s %s: out of memory", opt,
                          path);
        goto out;
    }
    len = fread(buf, 1, SLC_TLS_MAX_FILE + 1, f);
    if (ferror(f)) {
        rc = slc__err_set(err, SLC_EINVAL, -1, "%s %s: cannot read: %s", opt,
                          path, strerror(errno ? errno : EIO));
        goto out;
    }
    if (len > SLC_TLS_MAX_FILE) {
        rc = slc__err_set(err, SLC_EINVAL, -1,
                          "%s %s: larger than %d bytes: not a PEM file", opt,
                          path, SLC_TLS_MAX_FILE);
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        rc = slc__err_set(err, SLC_EINVAL, -1,
                          "%s %s: binary data: not a PEM file (DER? convert "
                          "it with openssl x509 -outform PEM)",
                          opt, path);
        goto out;
    }
    buf[len] = '\0';
    rc = pem_check(opt, path, buf, kind, err);
    if (rc == SLC_OK) {
        *out = buf;
        buf = NULL;
    }
out:
    if (buf) {
        explicit_bzero(buf, len);
        free(buf);
    }
    fclose(f);
    return rc;
}

int slc__channel_creds(const slc_options *o, grpc_channel_credentials **out,
                       slc_error *err)
{
    char *ca = NULL, *cert = NULL, *key = NULL;
    int rc = SLC_OK;

    *out = NULL;
    if (!given(o->tls_ca)) {
        if (given(o->tls_cert) || given(o->tls_key) || given(o->tls_name))
            return slc__err_set(err, SLC_EINVAL, -1,
                                "tls_cert, tls_key and tls_name need tls_ca "
                                "(the CA that signed the server's "
                                "certificate)");
        *out = grpc_insecure_credentials_create();
        return SLC_OK;
    }
    if (given(o->tls_cert) != given(o->tls_key))
        return slc__err_set(err, SLC_EINVAL, -1,
                            "tls_cert and tls_key go together");
    rc = read_pem("tls_ca", o->tls_ca, PEM_CERTS, &ca, err);
    if (rc == SLC_OK && given(o->tls_cert))
        rc = read_pem("tls_cert", o->tls_cert, PEM_CERTS, &cert, err);
    if (rc == SLC_OK && given(o->tls_key))
        rc = read_pem("tls_key", o->tls_key, PEM_KEY, &key, err);
    if (rc != SLC_OK)
        goto out;
    grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
    *out = grpc_ssl_credentials_create(ca, cert ? &pair : NULL, NULL, NULL);
    if (!*out)
        rc = slc__err_set(err, SLC_EINTERNAL, -1,
                          "grpc_ssl_credentials_create failed");
out:
    free(ca);
    free(cert);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    return rc;
}
