/* Minimal TAP output for the C tests: one "ok N - name" / "not ok N - name" line per check. */
#ifndef CIRCUIT_TEST_TAP_H
#define CIRCUIT_TEST_TAP_H

#include <stdio.h>

static int tap_count = 0;
static int tap_failures = 0;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        ++tap_count;                                                       \
        if (cond) {                                                        \
            printf("ok %d - ", tap_count);                                 \
        } else {                                                           \
            ++tap_failures;                                                \
            printf("not ok %d - (%s:%d: %s) ", tap_count, __FILE__,       \
                   __LINE__, #cond);                                       \
        }                                                                  \
        printf(__VA_ARGS__);                                               \
        printf("\n");                                                      \
    } while (0)

static int tap_done(void) {
    printf("1..%d\n", tap_count);
    return tap_failures == 0 ? 0 : 1;
}

#endif
