/* Heap bytes per breaker through the C ABI: mallinfo2() before and after creating N breakers
 * (default configuration, and a failure-rate rule over a 100-outcome count window), then again
 * after destroying them. Run by scripts/bench-abi.
 *
 *   bench_memory [N]    default 10000
 *
 * Prints "memory_<config>_bytes_per_breaker B" and "memory_<config>_left_after_destroy B" lines
 * (heap still in use after destroying every breaker, per breaker: the handle table's slots). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuit.h"

static size_t in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static int measure(const char *name, circuit_config *config, long n, circuit_breaker *handles) {
    size_t before = in_use();
    for (long i = 0; i < n; i++) {
        if (circuit_create(config, &handles[i]) != CIRCUIT_OK) return 1;
    }
    size_t created = in_use();
    for (long i = 0; i < n; i++) circuit_destroy(handles[i]);
    size_t destroyed = in_use();
    printf("memory_%s_bytes_per_breaker %.1f\n", name, (double)(created - before) / (double)n);
    printf("memory_%s_left_after_destroy %.1f\n", name, destroyed > before ? (double)(destroyed - before) / (double)n : 0.0);
    return 0;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    if (n < 1) return 2;
    circuit_breaker *handles = calloc((size_t)n, sizeof *handles);
    if (!handles) return 1;
    /* Warm up the library (handle table chunk, thread-local cache, spellings) outside the figures. */
    circuit_config *config = circuit_config_new();
    circuit_breaker warm = 0;
    if (circuit_create(config, &warm) != CIRCUIT_OK) return 1;
    circuit_permit p;
    if (circuit_allow(warm, &p, NULL) == CIRCUIT_OK) circuit_record_success(warm, &p);
    circuit_destroy(warm);

    int failed = measure("default", config, n, handles);
    circuit_config_set_failure_rate_threshold(config, 0.5);
    circuit_config_set_window_size(config, 100);
    circuit_config_set_minimum_calls(config, 20);
    failed |= measure("count_window_100", config, n, handles);
    circuit_config_free(config);
    free(handles);
    return failed;
}
