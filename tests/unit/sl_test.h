/* sl_test.h -- shared helpers for the cmocka unit tests */
#ifndef SL_TEST_H
#define SL_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "error.h"

/* Fails the test with err's text when rc is not SL_OK. */
#define assert_sl_ok(rc, err)                                                  \
    do {                                                                       \
        int sl__rc = (rc);                                                     \
        if (sl__rc != SL_OK)                                                   \
            fail_msg("%s: %s (%s)", #rc, (err)->msg, sl_err_name(sl__rc));     \
    } while (0)

/* Fails unless rc is the expected code. */
#define assert_sl_err(rc, code, err)                                           \
    do {                                                                       \
        int sl__rc = (rc);                                                     \
        if (sl__rc != (code))                                                  \
            fail_msg("%s: want %s, got %s: %s", #rc, sl_err_name(code),        \
                     sl_err_name(sl__rc), (err)->msg);                         \
    } while (0)

#endif
