/* Threads: counters under contention, the half-open probe cap under racing threads, destroy
 * racing allow/record, and listeners fed from several threads. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "circuit.h"
#include "tap.h"

#ifndef ITERATIONS
#define ITERATIONS 20000
#endif
#define THREADS 4
#ifndef RACE_ROUNDS
#define RACE_ROUNDS 50
#endif

static circuit_breaker make(circuit_clock clock, uint32_t threshold, uint32_t probes) {
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, threshold);
    circuit_config_set_reset_timeout_ns(config, 1000);
    circuit_config_set_half_open_max_calls(config, probes);
    if (clock) circuit_config_set_manual_clock(config, clock);
    circuit_breaker b = 0;
    circuit_create(config, &b);
    circuit_config_free(config);
    return b;
}

typedef struct {
    circuit_breaker breaker;
    pthread_barrier_t *barrier;
    atomic_long ok, invalid, other, admitted;
} shared;

static void *hammer(void *arg) {
    shared *s = (shared *)arg;
    pthread_barrier_wait(s->barrier);
    for (int i = 0; i < ITERATIONS; i++) {
        circuit_permit p;
        circuit_status st = circuit_allow(s->breaker, &p, NULL);
        if (st == CIRCUIT_OK) {
            atomic_fetch_add(&s->admitted, 1);
            st = circuit_record_success(s->breaker, &p);
        }
        if (st == CIRCUIT_OK) atomic_fetch_add(&s->ok, 1);
        else if (st == CIRCUIT_ERR_INVALID_HANDLE) atomic_fetch_add(&s->invalid, 1);
        else atomic_fetch_add(&s->other, 1);
    }
    return NULL;
}

static void test_counters_under_contention(void) {
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS + 1);
    shared s = {make(0, 5, 1), &barrier, 0, 0, 0, 0};
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, hammer, &s);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    circuit_metrics_snapshot m;
    circuit_metrics(s.breaker, &m);
    long total = (long)THREADS * ITERATIONS;
    CHECK(atomic_load(&s.ok) == total && m.admitted == (uint64_t)total && m.successes == (uint64_t)total,
          "%d threads x %d pairs all counted (admitted %llu, successes %llu)", THREADS, ITERATIONS,
          (unsigned long long)m.admitted, (unsigned long long)m.successes);
    circuit_destroy(s.breaker);
    pthread_barrier_destroy(&barrier);
}

typedef struct {
    circuit_breaker breaker;
    pthread_barrier_t *barrier;
    atomic_int admitted;
} race;

static void *probe(void *arg) {
    race *r = (race *)arg;
    pthread_barrier_wait(r->barrier);
    circuit_permit p;
    if (circuit_allow(r->breaker, &p, NULL) == CIRCUIT_OK) atomic_fetch_add(&r->admitted, 1);
    return NULL;
}

static void test_probe_cap(uint32_t probes) {
    int violations = 0;
    for (int round = 0; round < 200; round++) {
        circuit_clock clock;
        circuit_clock_manual_new(&clock);
        circuit_breaker b = make(clock, 1, probes);
        circuit_permit p;
        circuit_allow(b, &p, NULL);
        circuit_record_failure(b, &p);
        circuit_clock_manual_advance(clock, 1000, NULL); /* due for half-open: the racers trigger it */
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, THREADS);
        race r = {b, &barrier, 0};
        pthread_t threads[THREADS];
        for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, probe, &r);
        for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
        if (atomic_load(&r.admitted) != (int)probes) violations++;
        pthread_barrier_destroy(&barrier);
        circuit_destroy(b);
        circuit_clock_destroy(clock);
    }
    CHECK(violations == 0, "half-open admitted exactly %u probe(s) among %d racing threads in 200 rounds", probes, THREADS);
}

/* Calls until the handle is observed destroyed (or a generous cap), so destroy always races. */
static void *hammer_until_invalid(void *arg) {
    shared *s = (shared *)arg;
    pthread_barrier_wait(s->barrier);
    for (long i = 0; i < 50000000L; i++) {
        circuit_permit p;
        circuit_status st = circuit_allow(s->breaker, &p, NULL);
        if (st == CIRCUIT_OK) st = circuit_record_success(s->breaker, &p);
        if (st == CIRCUIT_OK) {
            atomic_fetch_add(&s->ok, 1);
        } else if (st == CIRCUIT_ERR_INVALID_HANDLE) {
            atomic_fetch_add(&s->invalid, 1);
            break;
        } else {
            atomic_fetch_add(&s->other, 1);
        }
    }
    return NULL;
}

static void test_destroy_racing_calls(void) {
    int bad = 0, saw_invalid = 0;
    for (int round = 0; round < 20; round++) {
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, THREADS + 1);
        shared s = {make(0, 5, 1), &barrier, 0, 0, 0, 0};
        pthread_t threads[THREADS];
        for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, hammer_until_invalid, &s);
        pthread_barrier_wait(&barrier);
        for (volatile int spin = 0; spin < 1000 * round; spin++) {
        }
        circuit_status destroyed = circuit_destroy(s.breaker);
        for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
        if (destroyed != CIRCUIT_OK || atomic_load(&s.other) != 0) bad++;
        if (atomic_load(&s.invalid) > 0) saw_invalid++;
        circuit_permit p;
        if (circuit_allow(s.breaker, &p, NULL) != CIRCUIT_ERR_INVALID_HANDLE) bad++;
        pthread_barrier_destroy(&barrier);
    }
    CHECK(bad == 0, "destroy racing allow/record: every call returned OK or INVALID_HANDLE");
    CHECK(saw_invalid == 20, "calls observed the destroy in every round (%d of 20)", saw_invalid);
}

static atomic_int transitions_seen;

static void count_transition(void *userdata, circuit_breaker b, const circuit_transition *t) {
    (void)userdata;
    (void)b;
    (void)t;
    atomic_fetch_add(&transitions_seen, 1);
}

static void *flip(void *arg) {
    circuit_breaker b = *(circuit_breaker *)arg;
    for (int i = 0; i < 500; i++) {
        if (i % 2) circuit_force_open(b);
        else circuit_reset(b);
    }
    return NULL;
}

static void test_listeners_from_many_threads(void) {
    circuit_breaker b = make(0, 5, 1);
    circuit_on_transition(b, count_transition, NULL, NULL);
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, flip, &b);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    circuit_metrics_snapshot m;
    circuit_metrics(b, &m);
    CHECK((uint64_t)atomic_load(&transitions_seen) == m.generation, "one listener call per transition (%d, generation %llu)",
          atomic_load(&transitions_seen), (unsigned long long)m.generation);
    circuit_destroy(b);
}

/* A listener running on another thread while it is removed: circuit_remove_listener returns only
 * after that call has returned, so the remover may free the userdata at once (AddressSanitizer
 * reports a heap-use-after-free otherwise). */
typedef struct {
    atomic_int started;
    int writes;
} slow_state;

static void slow_listener(void *userdata, circuit_breaker b, const circuit_transition *t) {
    (void)b;
    (void)t;
    slow_state *state = (slow_state *)userdata;
    atomic_store(&state->started, 1);
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    state->writes++;
}

static void *force_open_breaker(void *arg) {
    circuit_force_open(*(circuit_breaker *)arg);
    return NULL;
}

static void test_remove_waits_for_a_call_in_progress(void) {
    circuit_breaker b = make(0, 5, 1);
    slow_state *state = calloc(1, sizeof *state);
    uint64_t id = 0;
    circuit_on_transition(b, slow_listener, state, &id);
    pthread_t deliverer;
    pthread_create(&deliverer, NULL, force_open_breaker, &b);
    while (!atomic_load(&state->started)) {
        struct timespec pause = {0, 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    CHECK(circuit_remove_listener(b, id) == CIRCUIT_OK, "listener removed while it runs on another thread");
    CHECK(state->writes == 1, "remove returned after the call in progress finished");
    free(state);
    pthread_join(deliverer, NULL);
    circuit_destroy(b);
}

/* docs/semantics.md, "Atomicity": 64 threads recording failures at once against failure_threshold = 10 count
 * exactly 10; the rest are stale. */
#define RACERS 64
typedef struct {
    circuit_breaker breaker;
    circuit_permit permit;
    pthread_barrier_t *barrier;
    circuit_status status;
} racer;

static void *record_failure_racing(void *arg) {
    racer *r = (racer *)arg;
    pthread_barrier_wait(r->barrier);
    r->status = circuit_record_failure(r->breaker, &r->permit);
    return NULL;
}

static void test_racing_failures_count_exactly_the_threshold(void) {
    int wrong = 0;
    for (int round = 0; round < RACE_ROUNDS; round++) {
        circuit_breaker b = make(0, 10, 1);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, RACERS);
        racer racers[RACERS];
        pthread_t threads[RACERS];
        for (int i = 0; i < RACERS; i++) {
            racers[i] = (racer){b, {0}, &barrier, -1};
            circuit_allow(b, &racers[i].permit, NULL);
        }
        for (int i = 0; i < RACERS; i++) pthread_create(&threads[i], NULL, record_failure_racing, &racers[i]);
        int counted = 0, stale = 0;
        for (int i = 0; i < RACERS; i++) {
            pthread_join(threads[i], NULL);
            if (racers[i].status == CIRCUIT_OK) counted++;
            else if (racers[i].status == CIRCUIT_STALE) stale++;
        }
        circuit_metrics_snapshot m;
        circuit_metrics(b, &m);
        if (counted != 10 || stale != RACERS - 10 || m.failures != 10 || m.opened != 1) wrong++;
        pthread_barrier_destroy(&barrier);
        circuit_destroy(b);
    }
    CHECK(wrong == 0, "exactly failure_threshold failures counted in every round (%d rounds wrong)", wrong);
}

int main(void) {
    test_counters_under_contention();
    test_probe_cap(1);
    test_probe_cap(2);
    test_destroy_racing_calls();
    test_listeners_from_many_threads();
    test_remove_waits_for_a_call_in_progress();
    test_racing_failures_count_exactly_the_threshold();
    return tap_done();
}
