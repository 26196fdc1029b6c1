/* Times the closed-state pair through the C ABI: circuit_allow + circuit_record_success (handle
 * validation, the panic guard, the permit struct), on one thread and with two threads on one
 * breaker. Linked against libcircuit.a or libcircuit.so by scripts/bench-abi and
 * scripts/bench-quick-c, which compare it with ffi-c/examples/core_pair.rs (the same loop on the
 * Rust core) measured in the same run.
 *
 *   bench_pair [PAIRS [ROUNDS [THREADS]]]    defaults 20000000 7 2; THREADS 1 skips the 2-thread run
 *
 * Prints "c_pair_1_thread NS" and (THREADS 2) "c_pair_2_threads NS": medians over ROUNDS of
 * nanoseconds per pair (per pair per thread for two threads: wall time / PAIRS). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "circuit.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Not inlined, like the Rust reference's loop body, so both measure one call site per pair. */
__attribute__((noinline)) static void pair(circuit_breaker b) {
    circuit_permit p;
    if (circuit_allow(b, &p, NULL) == CIRCUIT_OK) circuit_record_success(b, &p);
}

static void run(circuit_breaker b, long pairs) {
    for (long i = 0; i < pairs; i++) pair(b);
}

typedef struct {
    circuit_breaker b;
    long pairs;
} job;

static void *worker(void *arg) {
    job *j = (job *)arg;
    run(j->b, j->pairs);
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int n) {
    qsort(values, (size_t)n, sizeof values[0], compare);
    return values[n / 2];
}

int main(int argc, char **argv) {
    long pairs = argc > 1 ? atol(argv[1]) : 20000000L;
    int rounds = argc > 2 ? atoi(argv[2]) : 7;
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    if (pairs < 1 || rounds < 1 || rounds > 1000 || (threads != 1 && threads != 2)) {
        fprintf(stderr, "usage: bench_pair [PAIRS [ROUNDS [THREADS (1 or 2)]]]\n");
        return 2;
    }
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, 5);
    circuit_breaker b = 0;
    if (circuit_create(config, &b) != CIRCUIT_OK) return 1;
    /* The same breaker with a fleet level (closed; no store: the closed path is the same whether
     * or not a host syncs it, in the default `local` degraded mode). */
    circuit_fleet fleet = 0;
    circuit_breaker fb = 0;
    if (circuit_fleet_new("bench", NULL, &fleet) != CIRCUIT_OK || circuit_config_set_fleet(config, fleet) != CIRCUIT_OK ||
        circuit_create(config, &fb) != CIRCUIT_OK)
        return 1;
    circuit_config_free(config);
    circuit_permit probe;
    if (circuit_allow(b, &probe, NULL) != CIRCUIT_OK || circuit_record_success(b, &probe) != CIRCUIT_OK) return 1;
    run(b, pairs / 10); /* warm up */
    run(fb, pairs / 10);

    double *one = calloc((size_t)rounds, sizeof(double)), *two = calloc((size_t)rounds, sizeof(double));
    double *fl = calloc((size_t)rounds, sizeof(double));
    if (!one || !two || !fl) return 1;
    for (int r = 0; r < rounds; r++) {
        double start = now_ns();
        run(b, pairs);
        one[r] = (now_ns() - start) / (double)pairs;
        start = now_ns();
        run(fb, pairs);
        fl[r] = (now_ns() - start) / (double)pairs;
        if (threads == 2) {
            pthread_t workers[2];
            job j = {b, pairs};
            start = now_ns();
            for (int t = 0; t < 2; t++) pthread_create(&workers[t], NULL, worker, &j);
            for (int t = 0; t < 2; t++) pthread_join(workers[t], NULL);
            two[r] = (now_ns() - start) / (double)pairs;
        }
    }
    printf("c_pair_1_thread %.2f\n", median(one, rounds));
    if (threads == 2) printf("c_pair_2_threads %.2f\n", median(two, rounds));
    printf("c_pair_fleet_1_thread %.2f\n", median(fl, rounds));
    free(one);
    free(two);
    free(fl);
    circuit_destroy(b);
    circuit_destroy(fb);
    circuit_fleet_free(fleet);
    return 0;
}
