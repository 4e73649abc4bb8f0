/* validate.c -- pure request validation */
#include "validate.h"

#include <string.h>

bool sl_id_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len > SL_MAX_ID)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int sl_validate_query(const char *project_id, size_t project_len,
                      const char *service_id, size_t service_len,
                      int64_t update_time, struct sl_err *err)
{
    if (!sl_id_valid(project_id, project_len))
        return sl_err_set(err, SL_EINVAL,
                          "project_id must be 1-64 characters of "
                          "[A-Za-z0-9_-]");
    if (!sl_id_valid(service_id, service_len))
        return sl_err_set(err, SL_EINVAL,
                          "service_id must be 1-64 characters of "
                          "[A-Za-z0-9_-]");
    if (update_time < 0)
        return sl_err_set(err, SL_EINVAL,
                          "update_time must be a non-negative number of "
                          "milliseconds since the epoch (0: all logs)");
    return SL_OK;
}

int sl_parse_update_time(const char *s, int64_t *out, struct sl_err *err)
{
    *out = 0;
    int64_t v = 0;
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 19)
        goto bad;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            goto bad;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            goto bad;
        v = v * 10 + d;
    }
    *out = v;
    return SL_OK;
bad:
    return sl_err_set(err, SL_EINVAL,
                      "update_time must be a decimal number of milliseconds "
                      "since the epoch, 0 to 9223372036854775807");
}
