// C helpers for the Go package (cgo compiles this file with the package).
#include <pthread.h>
#include "helpers.h"

extern void goCircuitListener(void *userdata, circuit_breaker breaker, const circuit_transition *transition);

circuit_status circuit_go_on_transition(circuit_breaker breaker, uintptr_t handle, uint64_t *id) {
    return circuit_on_transition(breaker, goCircuitListener, (void *)handle, id);
}

// Creates a breaker and, on failure, copies the thread-local message in the same C call (a
// goroutine may move to another OS thread between two cgo calls).
circuit_status circuit_go_create(const circuit_config *config, circuit_breaker *out, char *message, size_t len) {
    circuit_status status = circuit_create(config, out);
    if (status != CIRCUIT_OK) circuit_last_error_message(message, len);
    return status;
}

// By-value wrappers: no Go pointer crosses into C, so the Go compiler can keep every argument
// on the goroutine's stack (no heap allocation per call).
circuit_go_allow_result circuit_go_allow(circuit_breaker breaker) {
    circuit_go_allow_result r;
    r.retry_after_ns = CIRCUIT_NO_TIME;
    r.status = circuit_allow(breaker, &r.permit, &r.retry_after_ns);
    return r;
}

circuit_status circuit_go_record(circuit_breaker breaker, circuit_permit permit, int outcome) {
    switch (outcome) {
        case 0: return circuit_record_success(breaker, &permit);
        case 1: return circuit_record_failure(breaker, &permit);
        default: return circuit_record_ignored(breaker, &permit);
    }
}

circuit_go_state_result circuit_go_state(circuit_breaker breaker) {
    circuit_go_state_result r;
    r.state = CIRCUIT_STATE_CLOSED;
    r.status = circuit_state(breaker, &r.state);
    return r;
}

// The calling OS thread, as a number (listener removal: "am I the thread running it?").
uintptr_t circuit_go_thread(void) {
    return (uintptr_t)pthread_self();
}
