// Declarations of the C helpers in helpers.c (shared by the Go files' preambles).
#ifndef CIRCUIT_GO_HELPERS_H
#define CIRCUIT_GO_HELPERS_H
#include <stdint.h>
#include "circuit.h"

// The permit comes first, so that the 16-byte parts Go copies it in (into Execute's deferred
// record, into a Permit) line up with the 16-byte stores that wrote it (see helpers.c).
typedef struct {
    circuit_permit permit;
    uint64_t retry_after_ns;
    circuit_status status;
} circuit_go_allow_result;

typedef struct {
    circuit_status status;
    circuit_breaker_state state;
} circuit_go_state_result;

circuit_status circuit_go_on_transition(circuit_breaker breaker, uintptr_t handle, uint64_t *id);
circuit_status circuit_go_create(const circuit_config *config, circuit_breaker *out, char *message, size_t len);
circuit_go_allow_result circuit_go_allow(circuit_breaker breaker);
circuit_status circuit_go_record(circuit_breaker breaker, circuit_permit permit, int outcome);
circuit_status circuit_go_record_failure_retry_after(circuit_breaker breaker, circuit_permit permit, uint64_t retry_after_ns);
circuit_go_state_result circuit_go_state(circuit_breaker breaker);
circuit_go_allow_result circuit_go_family_allow(circuit_family family, const char *key, size_t key_len);
circuit_status circuit_go_family_on_transition(circuit_family family, uintptr_t handle, uint64_t *id);
circuit_status circuit_go_family_keys(circuit_family family, uintptr_t handle);
circuit_status circuit_go_metric_points(circuit_breaker breaker, uintptr_t handle);
circuit_status circuit_go_family_metric_points(circuit_family family, uintptr_t handle);
circuit_status circuit_go_transitions(circuit_breaker breaker, uintptr_t handle);
circuit_status circuit_go_restore(circuit_breaker breaker, const char *doc, size_t len, int64_t wall_unix_ns, char *message,
                                  size_t message_len, char *field, size_t field_len, bool *has_field);
circuit_status circuit_go_region_open(const char *path, uint32_t capacity, bool manual, circuit_region *out, char *message,
                                      size_t len);
circuit_status circuit_go_region_advance(circuit_region region, uint64_t nanos, char *message, size_t len);
uintptr_t circuit_go_thread(void);
void circuit_go_floor(void);
#endif
