/* http_assets.h -- static files embedded in the binary, served by the shim
 *
 * The files are the build's (cmake/embed.cmake writes sl_asset_table from
 * the list in server/CMakeLists.txt): the web page under /ui/ (issue 13's
 * timeline) and /openapi.json. Nothing is read from the file system at run
 * time, so the page works on an air-gapped host and cannot drift from the
 * binary that serves it.
 *
 * Served to GET and HEAD without a token (a page must load before a person
 * can type one; the files hold no data), with the ETag, 304 and gzip
 * rules of a logs answer (http_web.h),
 * X-Content-Type-Options: nosniff, and for the page a Content-Security-
 * Policy that allows only this origin. "/ui" and "/ui/" serve
 * /ui/index.html, so the page names its other files by absolute path. */
#ifndef SL_HTTP_ASSETS_H
#define SL_HTTP_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct sl_asset {
    const char *path;          /* the URL path, "/ui/index.html" */
    const char *type;          /* Content-Type */
    const unsigned char *data; /* len bytes (and a NUL after them) */
    size_t len;
};

extern const struct sl_asset sl_asset_table[]; /* generated */
extern const size_t sl_asset_count;

/* Whether path[0..n) is a static-file path: "/openapi.json", "/ui" or
 * under "/ui/". */
bool sl_http_asset_path(const char *path, size_t n);

/* The asset served at path[0..n), NULL when none. */
const struct sl_asset *sl_http_asset_find(const char *path, size_t n);

#endif
