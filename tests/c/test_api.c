/* The C ABI's contract: handles, NULL pointers, config errors, permits, listeners (including
 * re-entrant ones), clocks, metrics, version macros and the panic boundary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "tap.h"

#define SECOND 1000000000ULL

static circuit_breaker make(circuit_clock clock, uint32_t threshold, uint64_t reset_ns) {
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, threshold);
    circuit_config_set_reset_timeout_ns(config, reset_ns);
    circuit_config_set_name(config, "payments");
    if (clock) circuit_config_set_manual_clock(config, clock);
    circuit_breaker b = 0;
    circuit_create(config, &b);
    circuit_config_free(config);
    return b;
}

static void fail_once(circuit_breaker b) {
    circuit_permit p;
    if (circuit_allow(b, &p, NULL) == CIRCUIT_OK) circuit_record_failure(b, &p);
}

static void test_version(void) {
    CHECK(circuit_version_number() == CIRCUIT_VERSION_NUMBER, "header and library versions agree (%u)", circuit_version_number());
    CHECK(strcmp(circuit_version(), CIRCUIT_VERSION_STRING) == 0, "version string %s", circuit_version());
    CHECK(CIRCUIT_VERSION_NUMBER == CIRCUIT_VERSION_MAJOR * 1000000 + CIRCUIT_VERSION_MINOR * 1000 + CIRCUIT_VERSION_PATCH,
          "composed version number");
}

static void test_handles(void) {
    circuit_permit p;
    circuit_breaker_state s;
    CHECK(circuit_allow(0, &p, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "zero handle refused");
    CHECK(circuit_state(0xdeadbeefULL, &s) == CIRCUIT_ERR_INVALID_HANDLE, "forged handle refused");
    circuit_breaker b = make(0, 3, SECOND);
    CHECK(b != 0, "create returns a handle");
    circuit_breaker c = make(0, 3, SECOND);
    CHECK(c != b, "handles differ");
    CHECK(circuit_destroy(b) == CIRCUIT_OK, "destroy");
    CHECK(circuit_destroy(b) == CIRCUIT_ERR_INVALID_HANDLE, "second destroy refused");
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "destroyed handle refused");
    circuit_breaker d = make(0, 3, SECOND);
    CHECK(d != b && d != c, "handle values are not reused after destroy");
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "old handle still refused after its slot was reused");
    CHECK(circuit_allow(d, &p, NULL) == CIRCUIT_OK, "new breaker in the reused slot works");
    circuit_record_success(d, &p);
    char message[256];
    circuit_destroy(b);
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "not a live breaker handle") != NULL, "message explains the handle error: %s", message);
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    CHECK(circuit_reset(clock) == CIRCUIT_ERR_INVALID_HANDLE, "a clock handle is not a breaker handle");
    CHECK(circuit_clock_destroy(c) == CIRCUIT_ERR_INVALID_HANDLE, "a breaker handle is not a clock handle");
    circuit_clock_destroy(clock);
    circuit_destroy(c);
    circuit_destroy(d);
}

static void test_null_pointers(void) {
    circuit_breaker b = make(0, 3, SECOND);
    circuit_breaker out = 0;
    CHECK(circuit_create(NULL, &out) == CIRCUIT_ERR_NULL_POINTER && out == 0, "create with NULL config");
    circuit_config *config = circuit_config_new();
    CHECK(circuit_create(config, NULL) == CIRCUIT_ERR_NULL_POINTER, "create with NULL out");
    CHECK(circuit_allow(b, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER, "allow with NULL permit");
    CHECK(circuit_record_success(b, NULL) == CIRCUIT_ERR_NULL_POINTER, "record with NULL permit");
    CHECK(circuit_state(b, NULL) == CIRCUIT_ERR_NULL_POINTER, "state with NULL out");
    CHECK(circuit_metrics(b, NULL) == CIRCUIT_ERR_NULL_POINTER, "metrics with NULL out");
    CHECK(circuit_on_transition(b, NULL, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL listener");
    CHECK(circuit_config_set_name(config, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL name");
    CHECK(circuit_config_set_jitter(NULL, 0.5) == CIRCUIT_ERR_NULL_POINTER, "setter on NULL config");
    CHECK(circuit_clock_manual_new(NULL) == CIRCUIT_ERR_NULL_POINTER, "clock with NULL out");
    char message[128];
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "out_clock") != NULL, "message names the NULL argument: %s", message);
    circuit_config_free(NULL);
    circuit_config_free(config);
    circuit_destroy(b);
}

static void test_config_errors(void) {
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_rate_threshold(config, 0.0 / 0.0);
    circuit_breaker b = 0;
    CHECK(circuit_create(config, &b) == CIRCUIT_ERR_INVALID_CONFIG && b == 0, "NaN ratio refused, nothing created");
    char message[256];
    size_t n = circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "failure_rate_threshold") != NULL && n == strlen(message), "message names the option: %s", message);
    char tiny[8];
    size_t full = circuit_last_error_message(tiny, sizeof tiny);
    CHECK(full == n && strlen(tiny) == 7, "message truncated to the buffer, full length returned");
    CHECK(circuit_last_error_message(NULL, 0) == n, "length query with a NULL buffer");
    circuit_config_free(config);

    config = circuit_config_new();
    circuit_config_set_half_open_max_calls(config, 2);
    circuit_config_set_success_threshold(config, 3);
    CHECK(circuit_create(config, &b) == CIRCUIT_ERR_INVALID_CONFIG, "success_threshold above max calls refused");
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "success_threshold") != NULL, "%s", message);
    circuit_config_free(config);

    config = circuit_config_new();
    circuit_config_set_backoff_multiplier(config, 1.0 / 0.0);
    CHECK(circuit_create(config, &b) == CIRCUIT_ERR_INVALID_CONFIG, "infinite multiplier refused");
    circuit_config_free(config);

    config = circuit_config_new();
    CHECK(circuit_config_set_name(config, "\xff\xfe") == CIRCUIT_ERR_INVALID_ARGUMENT, "non-UTF-8 name refused");
    CHECK(circuit_config_set_manual_clock(config, 12345) == CIRCUIT_ERR_INVALID_HANDLE, "bad clock handle refused");
    CHECK(circuit_create(config, &b) == CIRCUIT_OK, "config still usable after refused setters");
    circuit_destroy(b);
    circuit_config_free(config);
}

/* The schema: every option is described, settable by name with its kind, and a refused config
 * names the failing option as a code through circuit_config_check (no message parsing). */
static void test_schema(void) {
    uint32_t count = circuit_option_count();
    CHECK(count >= 17, "the schema lists the options (%u)", count);
    int described = 0, settable = 0;
    for (uint32_t i = 0; i < count; i++) {
        circuit_option info;
        if (circuit_option_info(i, &info) != CIRCUIT_OK) continue;
        if (info.name && info.default_value && info.bounds && info.doc && circuit_option_code(info.name) == i) described++;
        circuit_config *config = circuit_config_new();
        circuit_status st = CIRCUIT_ERR_PANIC;
        switch (info.kind) {
        case CIRCUIT_OPTION_TEXT: st = circuit_config_set_text(config, info.name, "x"); break;
        case CIRCUIT_OPTION_COUNT: st = circuit_config_set_count(config, info.name, 1); break;
        case CIRCUIT_OPTION_NUMBER: st = circuit_config_set_number(config, info.name, 0.5); break;
        case CIRCUIT_OPTION_DURATION: st = circuit_config_set_duration_ns(config, info.name, 1000); break;
        case CIRCUIT_OPTION_SEED: st = circuit_config_set_seed(config, info.name, 7); break;
        }
        /* The wrong kind is refused (every option has exactly one kind). */
        circuit_status wrong = info.kind == CIRCUIT_OPTION_SEED ? circuit_config_set_text(config, info.name, "x")
                                                                : circuit_config_set_seed(config, info.name, 7);
        if (st == CIRCUIT_OK && wrong == CIRCUIT_ERR_INVALID_ARGUMENT) settable++;
        circuit_config_free(config);
    }
    CHECK(described == (int)count && settable == (int)count, "every option described (%d) and settable by name (%d)", described, settable);
    circuit_option info;
    CHECK(circuit_option_info(count, &info) == CIRCUIT_ERR_INVALID_ARGUMENT, "no option past the end");
    CHECK(circuit_option_code("no_such_option") == CIRCUIT_NO_OPTION && circuit_option_code(NULL) == CIRCUIT_NO_OPTION, "unknown name");

    circuit_config *config = circuit_config_new();
    CHECK(circuit_config_set_count(config, "no_such_option", 1) == CIRCUIT_ERR_INVALID_ARGUMENT, "unknown option refused");
    CHECK(circuit_config_set_count(config, "half_open_max_calls", 10001) == CIRCUIT_OK, "values are checked later");
    uint32_t option = 0;
    char message[128];
    size_t length = 0;
    CHECK(circuit_config_check(config, &option, message, sizeof message, &length) == CIRCUIT_ERR_INVALID_CONFIG,
          "check refuses the config");
    CHECK(option == circuit_option_code("half_open_max_calls") && strstr(message, "10000") != NULL && length == strlen(message),
          "check names the option as a code (%u) with the reason: %s", option, message);
    circuit_config_set_count(config, "half_open_max_calls", 3);
    CHECK(circuit_config_check(config, NULL, NULL, 0, NULL) == CIRCUIT_OK, "a valid config passes");
    CHECK(circuit_config_check(NULL, NULL, NULL, 0, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL config");
    circuit_config_free(config);

    CHECK(circuit_metric_count() == 21 && strcmp(circuit_metric_name(0), "state") == 0 &&
              circuit_metric_name(circuit_metric_count()) == NULL,
          "metrics fields listed");
}

static void test_permits_and_rejection(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_breaker b = make(clock, 1, 2 * SECOND);
    circuit_breaker other = make(clock, 1, 2 * SECOND);
    circuit_permit p, q;
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_OK && p.breaker == b && !(p.flags & CIRCUIT_PERMIT_SPENT), "closed admits");
    CHECK(circuit_record_failure(other, &p) == CIRCUIT_ERR_FOREIGN_PERMIT, "foreign permit refused");
    CHECK(circuit_record_failure(b, &p) == CIRCUIT_OK && (p.flags & CIRCUIT_PERMIT_SPENT), "failure counted, permit spent");
    CHECK(circuit_record_failure(b, &p) == CIRCUIT_ERR_ALREADY_RECORDED, "double record refused");
    uint64_t retry = 0;
    memset(&q, 0xab, sizeof q);
    circuit_permit before = q;
    CHECK(circuit_allow(b, &q, &retry) == CIRCUIT_REJECTED_OPEN && retry == 2 * SECOND, "open rejects with retry_after");
    CHECK(memcmp(&q, &before, sizeof q) == 0, "permit untouched on rejection");
    circuit_clock_manual_advance(clock, 2 * SECOND, NULL);
    CHECK(circuit_allow(b, &q, NULL) == CIRCUIT_OK && (q.flags & CIRCUIT_PERMIT_PROBE), "probe admitted at the due instant");
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_REJECTED_HALF_OPEN_FULL && retry == CIRCUIT_NO_TIME, "half-open full");
    circuit_permit copy = q;
    CHECK(circuit_record_success(b, &q) == CIRCUIT_OK, "probe success");
    CHECK(circuit_record_success(b, &copy) == CIRCUIT_STALE, "a copy of the spent probe is stale (new generation)");
    circuit_breaker_state s;
    circuit_state(b, &s);
    CHECK(s == CIRCUIT_STATE_CLOSED, "closed again");
    circuit_force_open(b);
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_REJECTED_FORCED_OPEN && retry == CIRCUIT_NO_TIME, "forced open");
    circuit_disable(b);
    circuit_state(b, &s);
    CHECK(s == CIRCUIT_STATE_DISABLED, "disabled");
    circuit_metrics_snapshot m;
    CHECK(circuit_metrics(b, &m) == CIRCUIT_OK, "metrics");
    CHECK(m.opened == 1 && m.failures == 1 && m.successes == 1 && m.stale == 1 && m.rejected == 3 && m.generation == 5,
          "metrics add up (opened %llu failures %llu rejected %llu generation %llu)", (unsigned long long)m.opened,
          (unsigned long long)m.failures, (unsigned long long)m.rejected, (unsigned long long)m.generation);
    uint64_t at = 0;
    circuit_next_transition_at(b, &at);
    CHECK(at == CIRCUIT_NO_TIME, "no scheduled transition when disabled");
    circuit_destroy(b);
    circuit_destroy(other);
    circuit_clock_destroy(clock);
}

static void test_retry_after(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_breaker b = make(clock, 2, 2 * SECOND);
    circuit_permit p;
    uint64_t retry = 0;
    CHECK(circuit_record_failure_retry_after(b, NULL, SECOND) == CIRCUIT_ERR_NULL_POINTER, "retry_after: NULL permit");
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_OK, "admitted");
    CHECK(circuit_record_failure_retry_after(b, &p, 60 * SECOND) == CIRCUIT_OK, "a failure that does not trip");
    CHECK(circuit_record_failure_retry_after(b, &p, 60 * SECOND) == CIRCUIT_ERR_ALREADY_RECORDED, "spent permit refused");
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_OK, "admitted");
    circuit_permit unspent = p;
    CHECK(circuit_record_failure_retry_after(b, &p, 60 * SECOND) == CIRCUIT_OK, "the tripping failure");
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_REJECTED_OPEN && retry == 60 * SECOND,
          "open for the dependency's retry time, not the 2 s reset timeout (retry %llu)", (unsigned long long)retry);
    circuit_destroy(b);
    CHECK(circuit_record_failure_retry_after(b, &unspent, SECOND) == CIRCUIT_ERR_INVALID_HANDLE, "destroyed handle");
    circuit_clock_destroy(clock);
}

typedef struct {
    int calls;
    circuit_transition last;
    int reentered_ok;
} listener_state;

static void listener(void *userdata, circuit_breaker b, const circuit_transition *t) {
    listener_state *state = (listener_state *)userdata;
    state->calls++;
    state->last = *t;
    /* Calling back into the same breaker from a listener must work (no lock is held). */
    circuit_metrics_snapshot m;
    circuit_breaker_state s;
    if (circuit_metrics(b, &m) == CIRCUIT_OK && circuit_state(b, &s) == CIRCUIT_OK && s == t->to) state->reentered_ok++;
    if (t->to == CIRCUIT_STATE_OPEN) circuit_reset(b);
}

static void test_listeners(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_clock_manual_advance(clock, 5 * SECOND, NULL);
    circuit_breaker b = make(clock, 1, SECOND);
    listener_state state = {0, {0}, 0};
    uint64_t id = 0;
    CHECK(circuit_on_transition(b, listener, &state, &id) == CIRCUIT_OK, "listener registered");
    fail_once(b);
    circuit_breaker_state s;
    circuit_state(b, &s);
    CHECK(state.calls == 2 && s == CIRCUIT_STATE_CLOSED, "listener saw open, reset from inside it, saw closed (%d calls)", state.calls);
    CHECK(state.last.reason == CIRCUIT_REASON_RESET && state.last.at_ns == 5 * SECOND && state.last.generation == 2, "transition fields");
    CHECK(state.reentered_ok == 2, "listener could call back into the breaker");
    CHECK(circuit_remove_listener(b, id) == CIRCUIT_OK, "listener removed");
    CHECK(circuit_remove_listener(b, id) == CIRCUIT_ERR_INVALID_ARGUMENT, "removing twice refused");
    fail_once(b);
    CHECK(state.calls == 2, "removed listener not called");
    circuit_destroy(b);
    circuit_clock_destroy(clock);
}

/* Listener A removes listener B and frees B's userdata during the same transition: B must not run
 * for that event (AddressSanitizer reports a heap-use-after-free if it does). */
typedef struct {
    uint64_t victim_id;
    int *victim_data;
    int calls;
} remover_state;

static void remover(void *userdata, circuit_breaker b, const circuit_transition *t) {
    (void)t;
    remover_state *state = (remover_state *)userdata;
    state->calls++;
    if (state->victim_data) {
        if (circuit_remove_listener(b, state->victim_id) == CIRCUIT_OK) {
            free(state->victim_data);
            state->victim_data = NULL;
        }
    }
}

static void victim(void *userdata, circuit_breaker b, const circuit_transition *t) {
    (void)b;
    (void)t;
    int *calls = (int *)userdata;
    (*calls)++;
}

static void test_listener_removed_by_another_listener(void) {
    circuit_breaker b = make(0, 1, SECOND);
    remover_state state = {0, malloc(sizeof(int)), 0};
    *state.victim_data = 0;
    CHECK(circuit_on_transition(b, remover, &state, NULL) == CIRCUIT_OK, "remover registered first");
    CHECK(circuit_on_transition(b, victim, state.victim_data, &state.victim_id) == CIRCUIT_OK, "victim registered");
    fail_once(b);
    circuit_reset(b);
    CHECK(state.calls == 2 && state.victim_data == NULL, "remover ran for both transitions and freed the victim's data");
    circuit_destroy(b);
}

static void test_clock(void) {
    circuit_clock clock;
    uint64_t now = 1;
    CHECK(circuit_clock_manual_new(&clock) == CIRCUIT_OK, "manual clock");
    circuit_clock_manual_now(clock, &now);
    CHECK(now == 0, "starts at 0");
    circuit_clock_manual_advance(clock, 1500, &now);
    CHECK(now == 1500, "advance returns the new instant");
    circuit_clock_manual_advance(clock, UINT64_MAX, &now);
    CHECK(now == UINT64_MAX, "advance saturates");
    circuit_breaker b = make(clock, 1, SECOND);
    CHECK(circuit_clock_destroy(clock) == CIRCUIT_OK, "clock destroyed");
    CHECK(circuit_clock_manual_advance(clock, 1, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "destroyed clock refused");
    circuit_permit p;
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_OK, "breaker keeps working on its (frozen) clock");
    circuit_record_success(b, &p);
    circuit_destroy(b);
}

static void test_panic_boundary(void) {
    CHECK(circuit_test_panic() == CIRCUIT_ERR_PANIC, "a panic inside becomes CIRCUIT_ERR_PANIC");
    char message[256];
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "panic") != NULL, "panic message: %s", message);
    circuit_breaker b = make(0, 3, SECOND);
    circuit_permit p;
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_OK, "library usable after a caught panic");
    circuit_record_ignored(b, &p);
    circuit_destroy(b);
    CHECK(strcmp(circuit_status_name(CIRCUIT_STALE), "CIRCUIT_STALE") == 0, "status names");
    CHECK(circuit_state_name(42) == NULL && circuit_reason_name(42) == NULL, "unknown codes give NULL names");
    CHECK(strcmp(circuit_reject_reason_name(CIRCUIT_REJECTED_HALF_OPEN_FULL - CIRCUIT_REJECTED_OPEN), "half_open_full") == 0 &&
              circuit_reject_reason_name(3) == NULL,
          "reject reason names");
}

int main(void) {
    test_version();
    test_handles();
    test_null_pointers();
    test_config_errors();
    test_schema();
    test_permits_and_rejection();
    test_retry_after();
    test_listeners();
    test_listener_removed_by_another_listener();
    test_clock();
    test_panic_boundary();
    return tap_done();
}
