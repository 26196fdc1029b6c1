/* Families through the C ABI: per-key isolation, the max_keys bound under a key flood, pinning by
 * a live member handle, idle eviction on the config's manual clock, and refused handles. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "circuit.h"
#include "tap.h"

#define SECOND 1000000000ULL

static circuit_family make_family(circuit_clock clock, uint32_t max_keys, uint64_t idle_ttl_ns) {
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, 1);
    circuit_config_set_reset_timeout_ns(config, 60 * SECOND);
    circuit_config_set_name(config, "api");
    if (clock) circuit_config_set_manual_clock(config, clock);
    circuit_family f = 0;
    circuit_status status = circuit_family_create(config, max_keys, idle_ttl_ns, &f);
    circuit_config_free(config);
    return status == CIRCUIT_OK ? f : 0;
}

static circuit_breaker get(circuit_family f, const char *key) {
    circuit_breaker b = 0;
    if (circuit_family_get(f, key, strlen(key), &b) != CIRCUIT_OK) return 0;
    return b;
}

static size_t len(circuit_family f) {
    size_t n = (size_t)-1;
    circuit_family_len(f, &n);
    return n;
}

static bool contains(circuit_family f, const char *key) {
    bool c = false;
    circuit_family_contains(f, key, strlen(key), &c);
    return c;
}

static circuit_breaker_state state(circuit_breaker b) {
    circuit_breaker_state s = CIRCUIT_STATE_DISABLED;
    circuit_state(b, &s);
    return s;
}

static void fail_once(circuit_breaker b) {
    circuit_permit p;
    if (circuit_allow(b, &p, NULL) == CIRCUIT_OK) circuit_record_failure(b, &p);
}

static int transitions = 0;
static void count_transition(void *userdata, circuit_breaker b, const circuit_transition *t) {
    (void)userdata;
    (void)b;
    (void)t;
    transitions++;
}

static void test_isolation(void) {
    circuit_family f = make_family(0, 0, 0);
    CHECK(f != 0, "family created with the default bounds");
    circuit_breaker a = get(f, "a.example:443");
    circuit_breaker b = get(f, "b.example:443");
    CHECK(a != 0 && b != 0 && a != b, "each get returns a new breaker handle");
    fail_once(a);
    CHECK(state(a) == CIRCUIT_STATE_OPEN, "member a trips on its own failure");
    CHECK(state(b) == CIRCUIT_STATE_CLOSED, "member b is unaffected");
    circuit_breaker a2 = get(f, "a.example:443");
    CHECK(a2 != a && state(a2) == CIRCUIT_STATE_OPEN, "a second handle for the same key names the same member");
    CHECK(len(f) == 2 && contains(f, "a.example:443") && contains(f, "b.example:443") && !contains(f, "c"),
          "len and contains see the two members");
    circuit_destroy(a);
    circuit_destroy(a2);
    circuit_destroy(b);
    CHECK(circuit_family_destroy(f) == CIRCUIT_OK, "family destroyed");
}

static void test_member_handle_destroy_keeps_member(void) {
    circuit_family f = make_family(0, 4, 0);
    circuit_breaker a = get(f, "k");
    circuit_breaker a2 = get(f, "k");
    uint64_t id = 0;
    transitions = 0;
    CHECK(circuit_on_transition(a2, count_transition, NULL, &id) == CIRCUIT_OK, "listener on a member handle");
    CHECK(circuit_destroy(a) == CIRCUIT_OK, "one member handle destroyed");
    CHECK(circuit_destroy(a) == CIRCUIT_ERR_INVALID_HANDLE, "a destroyed member handle is refused");
    circuit_permit p;
    CHECK(circuit_allow(a, &p, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "allow on a destroyed member handle refused");
    fail_once(a2);
    CHECK(state(a2) == CIRCUIT_STATE_OPEN && transitions == 1,
          "the member still works (listeners kept) after another handle of it was destroyed");
    circuit_remove_listener(a2, id);
    circuit_destroy(a2);
    circuit_family_destroy(f);
}

static void test_flood(void) {
    circuit_family f = make_family(0, 64, 0);
    size_t max_len = 0;
    int ok = 0;
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "host-%d", i);
        circuit_breaker b = get(f, key);
        circuit_permit p;
        if (b && circuit_allow(b, &p, NULL) == CIRCUIT_OK && circuit_record_success(b, &p) == CIRCUIT_OK) ok++;
        circuit_destroy(b);
        size_t n = len(f);
        if (n > max_len) max_len = n;
    }
    CHECK(ok == 10000, "10000 keys each admitted and recorded (%d)", ok);
    CHECK(max_len <= 64 && max_len > 0, "the family stayed within max_keys = 64 (at most %zu)", max_len);
    CHECK(contains(f, "host-9999") && !contains(f, "host-0"), "newest key kept, oldest evicted");
    circuit_family_destroy(f);
}

static void test_pinning(void) {
    circuit_family f = make_family(0, 2, 0);
    circuit_breaker held = get(f, "held");
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "other-%d", i);
        circuit_destroy(get(f, key));
    }
    CHECK(contains(f, "held") && len(f) <= 2, "a held member handle pins its member through a flood");
    circuit_permit p;
    CHECK(circuit_allow(held, &p, NULL) == CIRCUIT_OK, "permit from the pinned member");
    /* The permit records on its breaker even after the handle's family is gone. */
    CHECK(circuit_family_destroy(f) == CIRCUIT_OK, "family destroyed while a member handle is live");
    CHECK(circuit_record_failure(held, &p) == CIRCUIT_OK && state(held) == CIRCUIT_STATE_OPEN,
          "the member handle outlives its family");
    circuit_destroy(held);
}

static void test_idle_ttl_on_manual_clock(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_family f = make_family(clock, 0, 10 * SECOND);
    circuit_destroy(get(f, "idle"));
    CHECK(contains(f, "idle"), "member present before idle_ttl");
    circuit_clock_manual_advance(clock, 11 * SECOND, NULL);
    circuit_destroy(get(f, "fresh"));
    CHECK(!contains(f, "idle") && contains(f, "fresh"), "the config's manual clock drives idle_ttl");
    circuit_family_destroy(f);
    circuit_clock_destroy(clock);
}

static void test_errors(void) {
    circuit_breaker b = 0;
    size_t n = 0;
    bool c = false;
    circuit_family f0 = 0;
    CHECK(circuit_family_get(0, "k", 1, &b) == CIRCUIT_ERR_INVALID_HANDLE, "zero family handle refused");
    CHECK(circuit_family_len(0xdeadbeefULL, &n) == CIRCUIT_ERR_INVALID_HANDLE, "forged family handle refused");
    circuit_family f = make_family(0, 0, 0);
    CHECK(circuit_family_get(f, NULL, 1, &b) == CIRCUIT_ERR_NULL_POINTER, "NULL key refused");
    CHECK(circuit_family_get(f, "k", 1, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_breaker refused");
    CHECK(circuit_family_len(f, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_len refused");
    CHECK(circuit_family_contains(f, "k", 1, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_contains refused");
    CHECK(circuit_family_get(f, "\xff", 1, &b) == CIRCUIT_ERR_INVALID_ARGUMENT, "non-UTF-8 key refused");
    CHECK(circuit_family_get(f, NULL, 0, &b) == CIRCUIT_OK, "empty key (NULL, 0) accepted");
    circuit_destroy(b);
    CHECK(circuit_family_create(NULL, 0, 0, &f0) == CIRCUIT_ERR_NULL_POINTER, "NULL config refused");
    circuit_config *config = circuit_config_new();
    CHECK(circuit_family_create(config, 0, 0, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_family refused");
    circuit_config_free(config);
    CHECK(circuit_reset(f) == CIRCUIT_ERR_INVALID_HANDLE, "a family handle is not a breaker handle");
    CHECK(circuit_family_destroy(f) == CIRCUIT_OK, "destroy");
    CHECK(circuit_family_destroy(f) == CIRCUIT_ERR_INVALID_HANDLE, "second destroy refused");
    CHECK(circuit_family_get(f, "k", 1, &b) == CIRCUIT_ERR_INVALID_HANDLE, "get on a destroyed family refused");
    CHECK(circuit_family_contains(f, "k", 1, &c) == CIRCUIT_ERR_INVALID_HANDLE, "contains on a destroyed family refused");
    char message[256];
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "not a live family handle") != NULL, "message explains the handle error: %s", message);
}

int main(void) {
    test_isolation();
    test_member_handle_destroy_keeps_member();
    test_flood();
    test_pinning();
    test_idle_ttl_on_manual_clock();
    test_errors();
    return tap_done();
}
