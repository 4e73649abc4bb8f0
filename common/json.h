/* json.h -- JSON string escaping, one implementation for every writer
 *
 * The REST renderer (server/http/render_json.c), the access log
 * (server/accesslog.c) and the client's JSON output (client/json_out.c)
 * all write strings through sl_json_string(), so a hostile byte is
 * escaped the same way everywhere:
 *   - '"' and '\\' are escaped; \b \f \n \r \t get their short forms;
 *     other bytes below 0x20 become \u00XX (lowercase hex);
 *   - well-formed UTF-8 (Unicode 15, table 3-7: no overlongs, no
 *     surrogates, nothing above U+10FFFF) is copied as is; each maximal
 *     ill-formed subpart becomes one U+FFFD (section 3.9), so the output
 *     is always valid UTF-8 whatever the input;
 *   - '/' and DEL are not escaped.
 * The output goes to a sink callback in chunks (a run of plain bytes is
 * handed over in one piece), so the same code serves a growing buffer and
 * a FILE*. A leaf: depends on nothing but libc.
 * THREAD SAFETY: reentrant.
 */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stddef.h>

/* Receives n bytes of output. */
typedef void sl_json_sink(void *ctx, const char *p, size_t n);

/* Writes s (NUL-terminated; NULL is written as "") as a JSON string,
 * quotes included, to put(ctx, ...). */
void sl_json_string(const char *s, sl_json_sink *put, void *ctx);

/* Length of the well-formed UTF-8 sequence at p (2 to 4), or 0 with *bad
 * set to the length of its maximal ill-formed subpart (at least 1). p is
 * NUL-terminated; never reads past the NUL. For p[0] >= 0x80 only. */
size_t sl_utf8_seq(const unsigned char *p, size_t *bad);

/* Room for any sl_json_float() output, NUL included ("-1.17549435e-38"). */
#define SL_JSON_FLOAT_MAX 32

/* Writes v as a JSON number into out (NUL-terminated) and returns its
 * length: the shortest "%.Ng" (N = 1..9) that strtof() reads back as
 * exactly v, so 0.5 is "0.5", 1 is "1", 0.1f is "0.1" and 3e+38 keeps
 * its exponent ("3e+38" is a JSON number). -0 is "-0". NaN and
 * infinities have no JSON number: they are written as "null" (what
 * JavaScript's JSON.stringify does), so a document stays valid JSON.
 * Assumes the C locale's decimal point (nothing here calls setlocale).
 * The server's renderer and the client's JSON both use it: same bytes. */
size_t sl_json_float(float v, char out[SL_JSON_FLOAT_MAX]);

#endif
