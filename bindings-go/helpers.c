// C helpers for the Go package (cgo compiles this file with the package).
#include <pthread.h>
#include "helpers.h"

extern void goCircuitListener(void *userdata, circuit_breaker breaker, const circuit_transition *transition);
extern void goCircuitFamilyListener(void *userdata, const char *key, size_t key_len, const circuit_transition *transition);
extern void goCircuitKey(void *userdata, const char *key, size_t key_len);
extern void goCircuitPoint(void *userdata, const circuit_metric_point *point);
extern void goCircuitFamilyPoint(void *userdata, const char *key, size_t key_len, const circuit_metric_point *point);
extern void goCircuitTransitionCount(void *userdata, circuit_breaker_state from, circuit_breaker_state to, circuit_reason reason,
                                     uint64_t count);

circuit_status circuit_go_metric_points(circuit_breaker breaker, uintptr_t handle) {
    return circuit_metric_points(breaker, goCircuitPoint, (void *)handle);
}

circuit_status circuit_go_family_metric_points(circuit_family family, uintptr_t handle) {
    return circuit_family_metric_points(family, goCircuitFamilyPoint, (void *)handle);
}

circuit_status circuit_go_transitions(circuit_breaker breaker, uintptr_t handle) {
    return circuit_transitions(breaker, goCircuitTransitionCount, (void *)handle);
}

// Restores and, on failure, copies the thread-local message and field in the same C call.
circuit_status circuit_go_restore(circuit_breaker breaker, const char *doc, size_t len, int64_t wall_unix_ns, char *message,
                                  size_t message_len, char *field, size_t field_len, bool *has_field) {
    circuit_status status = circuit_restore(breaker, doc, len, wall_unix_ns);
    if (status != CIRCUIT_OK) {
        circuit_last_error_message(message, message_len);
        *has_field = circuit_last_error_field(field, field_len, NULL);
    }
    return status;
}

circuit_status circuit_go_on_transition(circuit_breaker breaker, uintptr_t handle, uint64_t *id) {
    return circuit_on_transition(breaker, goCircuitListener, (void *)handle, id);
}

circuit_status circuit_go_family_on_transition(circuit_family family, uintptr_t handle, uint64_t *id) {
    return circuit_family_on_transition(family, goCircuitFamilyListener, (void *)handle, id);
}

circuit_status circuit_go_family_keys(circuit_family family, uintptr_t handle) {
    return circuit_family_keys(family, goCircuitKey, (void *)handle);
}

// Admits on a family member; the permit comes back by value (no Go pointer crosses into C).
circuit_go_allow_result circuit_go_family_allow(circuit_family family, const char *key, size_t key_len) {
    circuit_go_allow_result r = {{0, 0, 0, 0, 0}, CIRCUIT_NO_TIME, CIRCUIT_OK};
    r.status = circuit_family_allow(family, key, key_len, &r.permit, &r.retry_after_ns);
    return r;
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
//
// circuit_go_allow's result goes back through memory: this function writes it to the caller's
// return slot, cgo's generated wrapper copies that slot into the Go call's frame, and Go copies
// it on (into Execute's deferred record, into a Permit), each copy in 16-byte loads and stores.
// A 16-byte load of bytes that narrower stores have just written, or that straddles two stores,
// cannot be served from the store buffer: a store-forwarding stall, measured with perf at 5-15 ns
// per call on both the rejection and the closed path. So every input below is read with a load
// no wider than the store that wrote it (volatile: the compiler may not merge them), each
// 16-byte part of the result is written with one 16-byte store, and the permit starts the struct
// so that Go's copies of it line up with those parts.
#if defined(__SSE2__)
#include <emmintrin.h>
#include <stddef.h>
_Static_assert(offsetof(circuit_go_allow_result, permit) == 0 &&
               offsetof(circuit_go_allow_result, retry_after_ns) == 48 &&
               offsetof(circuit_go_allow_result, status) == 56 && sizeof(circuit_go_allow_result) == 64 &&
               offsetof(circuit_permit, generation) == 8 && offsetof(circuit_permit, admitted_at_ns) == 16 &&
               offsetof(circuit_permit, ticket) == 24 && offsetof(circuit_permit, flags) == 28 &&
               offsetof(circuit_permit, fleet_epoch) == 32 && offsetof(circuit_permit, fleet_probe) == 40,
               "circuit_go_allow writes the result in four 16-byte parts of this layout");

circuit_go_allow_result circuit_go_allow(circuit_breaker breaker) {
    circuit_permit permit;
    uint64_t retry = CIRCUIT_NO_TIME;
    circuit_status status = circuit_allow(breaker, &permit, &retry);
    const volatile circuit_permit *p = &permit; // untouched (garbage, ignored) on a rejection
    const volatile uint64_t *retry_after = &retry;
    circuit_go_allow_result r;
    __m128i *out = (__m128i *)&r;
    _mm_storeu_si128(out, _mm_set_epi64x((long long)p->generation, (long long)p->breaker));
    _mm_storeu_si128(out + 1, _mm_set_epi64x((long long)((uint64_t)p->ticket | (uint64_t)p->flags << 32),
                                             (long long)p->admitted_at_ns));
    _mm_storeu_si128(out + 2, _mm_set_epi64x((long long)p->fleet_probe, (long long)p->fleet_epoch));
    _mm_storeu_si128(out + 3, _mm_set_epi64x((long long)(uint32_t)status, (long long)*retry_after));
    return r;
}
#else
circuit_go_allow_result circuit_go_allow(circuit_breaker breaker) {
    circuit_go_allow_result r;
    r.retry_after_ns = CIRCUIT_NO_TIME;
    r.status = circuit_allow(breaker, &r.permit, &r.retry_after_ns);
    return r;
}
#endif

circuit_status circuit_go_record(circuit_breaker breaker, circuit_permit permit, int outcome) {
    switch (outcome) {
        case 0: return circuit_record_success(breaker, &permit);
        case 1: return circuit_record_failure(breaker, &permit);
        default: return circuit_record_ignored(breaker, &permit);
    }
}

circuit_status circuit_go_record_failure_retry_after(circuit_breaker breaker, circuit_permit permit, uint64_t retry_after_ns) {
    return circuit_record_failure_retry_after(breaker, &permit, retry_after_ns);
}

circuit_go_state_result circuit_go_state(circuit_breaker breaker) {
    circuit_go_state_result r;
    r.state = CIRCUIT_STATE_CLOSED;
    r.status = circuit_state(breaker, &r.state);
    return r;
}

// Opens a host region and, on failure, copies the thread-local message in the same C call.
circuit_status circuit_go_region_open(const char *path, uint32_t capacity, bool manual, circuit_region *out, char *message,
                                      size_t len) {
    circuit_status status = manual ? circuit_region_open_manual(path, capacity, out) : circuit_region_open(path, capacity, out);
    if (status != CIRCUIT_OK) circuit_last_error_message(message, len);
    return status;
}

// Advances a manual region's clock and, on failure, copies the message in the same C call.
circuit_status circuit_go_region_advance(circuit_region region, uint64_t nanos, char *message, size_t len) {
    circuit_status status = circuit_region_advance(region, nanos);
    if (status != CIRCUIT_OK) circuit_last_error_message(message, len);
    return status;
}

// The calling OS thread, as a number (listener removal: "am I the thread running it?").
uintptr_t circuit_go_thread(void) {
    return (uintptr_t)pthread_self();
}

// Does nothing: the cost of one cgo call, the floor of every Go call into the library
// (BenchmarkCgoFloor).
void circuit_go_floor(void) {}
