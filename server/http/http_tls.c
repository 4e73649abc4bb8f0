/* http_tls.c -- the REST shim's mutual-TLS hook (http_tls.h)
 *
 * Mutual TLS is enforced in the handshake: the hook runs for each new
 * connection after libmicrohttpd made its GnuTLS session and before the
 * handshake, and turns libmicrohttpd's GNUTLS_CERT_REQUEST into
 * GNUTLS_CERT_REQUIRE with verification (gnutls_session_set_verify_cert2).
 * Nothing here allocates or keeps state; sl_client_purpose is read-only.
 */
#include "http_tls.h"

#include <stddef.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>

/* What a client certificate must be fit for (extendedKeyUsage clientAuth,
 * or no extendedKeyUsage). GnuTLS only reads it. */
static gnutls_typed_vdata_st sl_client_purpose[] = {
    {GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0},
};

static gnutls_session_t tls_session(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return ci ? (gnutls_session_t)ci->tls_session : NULL;
}

void sl_http_tls_require_client_cert(struct MHD_Connection *conn)
{
    gnutls_session_t sess = tls_session(conn);
    if (!sess)
        return; /* sl_http_tls_client_verified() refuses its requests */
    gnutls_certificate_server_set_request(sess, GNUTLS_CERT_REQUIRE);
    gnutls_session_set_verify_cert2(
        sess, sl_client_purpose,
        sizeof(sl_client_purpose) / sizeof(sl_client_purpose[0]), 0);
}

bool sl_http_tls_client_verified(struct MHD_Connection *conn)
{
    unsigned int status = 0;
    gnutls_session_t sess = tls_session(conn);

    if (!sess)
        return false;
    if (gnutls_session_get_verify_cert_status(sess) == 0)
        return true; /* verified in the handshake */
    /* No verification ran in this handshake (a resumed session would
     * skip it): verify the peer's chain now. */
    return gnutls_certificate_verify_peers2(sess, &status) == 0 && status == 0;
}
