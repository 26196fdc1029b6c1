/* A complete program using the circuit C API: protect calls to a flaky dependency, serve a
 * fallback while the breaker is open, watch transitions, read metrics. Compiled and run by
 * `make test` (tests/c/run). Build: cc quickstart.c $(pkg-config --cflags --libs circuit) */
#include <stdint.h>
#include <stdio.h>

#include "circuit.h"

/* Stand-in for a network call: fails while `healthy` is 0. */
static int call_dependency(int healthy) { return healthy ? 0 : -1; }

static void on_transition(void *userdata, circuit_breaker breaker, const circuit_transition *t) {
    (void)breaker;
    printf("[%s] %s -> %s (%s) at %llu ns\n", (const char *)userdata, circuit_state_name(t->from),
           circuit_state_name(t->to), circuit_reason_name(t->reason), (unsigned long long)t->at_ns);
}

static void check(circuit_status status, const char *what) {
    if (status != CIRCUIT_OK) {
        char message[256];
        circuit_last_error_message(message, sizeof message);
        fprintf(stderr, "%s failed: %s (%s)\n", what, circuit_status_name(status), message);
    }
}

int main(void) {
    /* A manual clock makes the example deterministic; omit it to use the monotonic clock. */
    circuit_clock clock;
    check(circuit_clock_manual_new(&clock), "circuit_clock_manual_new");

    circuit_config *config = circuit_config_new();
    circuit_config_set_name(config, "inventory");
    circuit_config_set_failure_threshold(config, 3);
    circuit_config_set_reset_timeout_ns(config, 10ULL * 1000000000ULL); /* 10 s */
    circuit_config_set_manual_clock(config, clock);

    circuit_breaker breaker;
    circuit_status status = circuit_create(config, &breaker);
    circuit_config_free(config); /* the breaker keeps its own copy */
    if (status != CIRCUIT_OK) {
        check(status, "circuit_create");
        return 1;
    }
    check(circuit_on_transition(breaker, on_transition, (void *)"inventory", NULL), "circuit_on_transition");

    for (int i = 0; i < 6; i++) {
        circuit_permit permit;
        uint64_t retry_after_ns;
        status = circuit_allow(breaker, &permit, &retry_after_ns);
        if (status == CIRCUIT_OK) {
            if (call_dependency(/* healthy = */ 0) == 0) {
                circuit_record_success(breaker, &permit);
            } else {
                circuit_record_failure(breaker, &permit);
            }
            printf("call %d: admitted, failed\n", i);
        } else if (status == CIRCUIT_REJECTED_OPEN) {
            printf("call %d: rejected, serving the cached answer; retry in %.1f s\n", i, retry_after_ns / 1e9);
        } else {
            check(status, "circuit_allow");
        }
    }

    circuit_clock_manual_advance(clock, 10ULL * 1000000000ULL, NULL);
    circuit_permit probe;
    if (circuit_allow(breaker, &probe, NULL) == CIRCUIT_OK) {
        printf("probe admitted: %s\n", (probe.flags & CIRCUIT_PERMIT_PROBE) ? "yes" : "no");
        circuit_record_success(breaker, &probe); /* the dependency is back */
    }

    circuit_metrics_snapshot m;
    check(circuit_metrics(breaker, &m), "circuit_metrics");
    printf("state %s, admitted %llu, rejected %llu, failures %llu, opened %llu\n", circuit_state_name(m.state),
           (unsigned long long)m.admitted, (unsigned long long)m.rejected, (unsigned long long)m.failures,
           (unsigned long long)m.opened);

    circuit_destroy(breaker);
    circuit_clock_destroy(clock);
    return m.state == CIRCUIT_STATE_CLOSED && m.rejected == 3 ? 0 : 1;
}
