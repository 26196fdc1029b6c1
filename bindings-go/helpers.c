// C helpers for the Go package (cgo compiles this file with the package).
#include <stdint.h>
#include "circuit.h"

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
