/* http_tls.h -- the REST shim's mutual-TLS hook on libmicrohttpd
 *
 * With a client CA (struct sl_tls_config.client_ca, http_shim.h has the
 * rules) every HTTPS connection must present a client certificate that
 * verifies against it and is fit for client authentication
 * (extendedKeyUsage clientAuth, or none). libmicrohttpd only asks for one
 * (GNUTLS_CERT_REQUEST), so the shim calls
 * sl_http_tls_require_client_cert() on every new connection, after
 * libmicrohttpd made its GnuTLS session and before the handshake, and the
 * handshake itself fails for a client without one;
 * sl_http_tls_client_verified() checks again before each of the
 * connection's requests. Both only touch the connection's GnuTLS
 * session; the trust (the client CA) is the one given to libmicrohttpd
 * (MHD_OPTION_HTTPS_MEM_TRUST).
 */
#ifndef SL_HTTP_TLS_H
#define SL_HTTP_TLS_H

#include <stdbool.h>

struct MHD_Connection;

/* A new connection (from MHD_CONNECTION_NOTIFY_STARTED): its handshake
 * must bring a client certificate that verifies against the trust for
 * client authentication, or fail (GNUTLS_CERT_REQUIRE plus
 * gnutls_session_set_verify_cert2). A connection without a GnuTLS session
 * is left alone: sl_http_tls_client_verified() then refuses it.
 * THREAD SAFETY: on the connection's worker thread. */
void sl_http_tls_require_client_cert(struct MHD_Connection *conn);

/* Whether the connection's client certificate was verified (in the
 * handshake, or now when no verification ran in it, as for a resumed
 * session). False without a GnuTLS session. THREAD SAFETY: as above. */
bool sl_http_tls_client_verified(struct MHD_Connection *conn);

#endif
