/* validate.h -- pure request validation, shared by the server and the shim */
#ifndef SL_VALIDATE_H
#define SL_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "limits.h" /* SL_MAX_ID */

/* True when s[0..len) is 1-SL_MAX_ID characters of [A-Za-z0-9_-]. */
bool sl_id_valid(const char *s, size_t len);

/* Checks a QueryServiceLogs request. SL_OK, or SL_EINVAL naming the field
 * (never echoing more than the field's name and the rule). */
int sl_validate_query(const char *project_id, size_t project_len,
                      const char *service_id, size_t service_len,
                      int64_t update_time, struct sl_err *err);

/* Parses the REST ?update_time= value: decimal digits only, 0 to INT64_MAX.
 * SL_OK and *out set, or SL_EINVAL (then *out is 0). */
int sl_parse_update_time(const char *s, int64_t *out, struct sl_err *err);

#endif
