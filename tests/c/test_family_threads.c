/* Family listeners under concurrency: several threads admit and record by key (so every member
 * keeps transitioning) while the main thread removes one listener and then destroys the family.
 * Once circuit_family_remove_listener / circuit_family_destroy has returned, the listener must
 * never start again; family permits outstanding across the destroy still record afterwards. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "circuit.h"
#include "tap.h"

#ifndef ROUNDS
#define ROUNDS 3000
#endif
#define THREADS 4

typedef struct {
    atomic_int gone; /* set once removal (or destroy) has returned */
    atomic_int calls;
    atomic_int late; /* calls running (started or not finished) after `gone` */
} watch;

static void on_transition(void *userdata, const char *key, size_t key_len, const circuit_transition *t) {
    (void)key;
    (void)key_len;
    (void)t;
    watch *w = userdata;
    if (atomic_load(&w->gone)) atomic_fetch_add(&w->late, 1);
    atomic_fetch_add(&w->calls, 1);
    for (volatile int spin = 0; spin < 2000; spin++) {
    } /* widen the window in which a removal races a call */
    if (atomic_load(&w->gone)) atomic_fetch_add(&w->late, 1); /* still running after removal returned */
}

static circuit_family family;
static atomic_int recorded_after_destroy;

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    char key[16];
    /* One permit held across the destroy records afterwards. */
    circuit_permit held;
    int holding = circuit_family_allow(family, "held", 4, &held, NULL) == CIRCUIT_OK;
    /* Until the main thread destroys the family (at least ROUNDS rounds' worth of transitions). */
    for (int i = 0;; i++) {
        snprintf(key, sizeof key, "k%d", (i + id) % 8);
        circuit_permit p;
        circuit_status st = circuit_family_allow(family, key, strlen(key), &p, NULL);
        if (st == CIRCUIT_OK) {
            if (circuit_record_failure(p.breaker, &p) == CIRCUIT_OK) { /* threshold 1: opens */
                circuit_breaker m = 0;
                if (circuit_family_get(family, key, strlen(key), &m) == CIRCUIT_OK) {
                    circuit_reset(m); /* and closes again: two transitions per round */
                    circuit_destroy(m);
                }
            }
        } else if (st == CIRCUIT_ERR_INVALID_HANDLE) {
            break; /* destroyed */
        }
    }
    if (holding && circuit_record_success(held.breaker, &held) == CIRCUIT_OK) atomic_fetch_add(&recorded_after_destroy, 1);
    return NULL;
}

int main(void) {
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, 1);
    circuit_config_set_name(config, "api");
    CHECK(circuit_family_create(config, 4, 0, &family) == CIRCUIT_OK, "family created (max_keys 4: overflow in use)");
    circuit_config_free(config);
    static watch removed_one, destroyed_one;
    uint64_t id = 0;
    circuit_family_on_transition(family, on_transition, &removed_one, &id);
    circuit_family_on_transition(family, on_transition, &destroyed_one, NULL);

    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, (void *)(intptr_t)i);
    while (atomic_load(&removed_one.calls) < ROUNDS / 10) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    CHECK(circuit_family_remove_listener(family, id) == CIRCUIT_OK, "listener removed while threads deliver");
    atomic_store(&removed_one.gone, 1);
    int before = atomic_load(&destroyed_one.calls);
    while (atomic_load(&destroyed_one.calls) < before + ROUNDS / 10) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    CHECK(circuit_family_destroy(family) == CIRCUIT_OK, "family destroyed while threads deliver");
    atomic_store(&destroyed_one.gone, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);

    CHECK(atomic_load(&removed_one.late) == 0, "no call ran after circuit_family_remove_listener returned (%d calls before)",
          atomic_load(&removed_one.calls));
    CHECK(atomic_load(&destroyed_one.late) == 0, "no call ran after circuit_family_destroy returned (%d calls before)",
          atomic_load(&destroyed_one.calls));
    CHECK(atomic_load(&recorded_after_destroy) == THREADS, "permits held across the destroy still record (%d)",
          atomic_load(&recorded_after_destroy));
    return tap_done();
}
