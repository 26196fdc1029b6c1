/* Times the closed-state pair through the C ABI (circuit_allow + circuit_record_success on the
 * shared library, with handle validation, the panic guard and the permit struct), single thread
 * and two threads on one breaker. Prints "name ns_per_pair" lines for scripts/bench-report. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "circuit.h"

#define ROUNDS 7
#define PAIRS 20000000L

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void run(circuit_breaker b, long pairs) {
    for (long i = 0; i < pairs; i++) {
        circuit_permit p;
        if (circuit_allow(b, &p, NULL) == CIRCUIT_OK) circuit_record_success(b, &p);
    }
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

#include <stdlib.h>

int main(void) {
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, 5);
    circuit_breaker b;
    circuit_create(config, &b);
    circuit_config_free(config);
    run(b, PAIRS / 10); /* warm up */

    double one[ROUNDS], two[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double start = now_ns();
        run(b, PAIRS);
        one[r] = (now_ns() - start) / PAIRS;

        pthread_t threads[2];
        job j = {b, PAIRS};
        start = now_ns();
        for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, worker, &j);
        for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
        two[r] = (now_ns() - start) / PAIRS; /* wall time per pair per thread */
    }
    qsort(one, ROUNDS, sizeof one[0], compare);
    qsort(two, ROUNDS, sizeof two[0], compare);
    printf("c_pair_1_thread %.2f\n", one[ROUNDS / 2]);
    printf("c_pair_2_threads %.2f\n", two[ROUNDS / 2]);
    circuit_destroy(b);
    return 0;
}
