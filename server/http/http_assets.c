/* http_assets.c -- finding an embedded static file (http_assets.h) */
#include "http_assets.h"

#include <string.h>

static bool is(const char *path, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(path, lit, n) == 0;
}

bool sl_http_asset_path(const char *path, size_t n)
{
    return is(path, n, "/openapi.json") || is(path, n, "/ui") ||
           (n >= 4 && memcmp(path, "/ui/", 4) == 0);
}

const struct sl_asset *sl_http_asset_find(const char *path, size_t n)
{
    if (is(path, n, "/ui") || is(path, n, "/ui/")) {
        path = "/ui/index.html";
        n = strlen(path);
    }
    for (size_t i = 0; i < sl_asset_count; i++)
        if (is(path, n, sl_asset_table[i].path))
            return &sl_asset_table[i];
    return NULL;
}
