/* Family additions through the C ABI: circuit_family_allow (its permit pins the member until it
 * is recorded, under a manual clock), keys, metrics, family listeners with the key (including the
 * overflow breaker's NULL key, removal, and destroy), circuit_name, and refused input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "tap.h"

#define SECOND 1000000000ULL

static circuit_family make_family(circuit_clock clock, uint32_t max_keys, uint64_t idle_ttl_ns) {
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, 1);
    circuit_config_set_reset_timeout_ns(config, 60 * SECOND);
    circuit_config_set_name(config, "api");
    circuit_config_set_manual_clock(config, clock);
    circuit_family f = 0;
    circuit_family_create(config, max_keys, idle_ttl_ns, &f);
    circuit_config_free(config);
    return f;
}

static bool contains(circuit_family f, const char *key) {
    bool c = false;
    circuit_family_contains(f, key, strlen(key), &c);
    return c;
}

/* The name of the member `get` answers for key (the lookup itself pins nothing afterwards). */
static void member_name(circuit_family f, const char *key, char *name, size_t name_len) {
    circuit_breaker b = 0;
    name[0] = 0;
    if (circuit_family_get(f, key, strlen(key), &b) == CIRCUIT_OK) {
        circuit_name(b, name, name_len, NULL);
        circuit_destroy(b);
    }
}

static void test_allow_pins_until_recorded(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_family f = make_family(clock, 1, SECOND);
    circuit_permit p;
    uint64_t retry = 0;
    CHECK(circuit_family_allow(f, "a", 1, &p, &retry) == CIRCUIT_OK, "allow by key admits");
    CHECK((p.flags & CIRCUIT_PERMIT_MEMBER) && p.breaker != 0, "the permit carries a member handle (flags %u)", p.flags);
    circuit_clock_manual_advance(clock, 5 * SECOND, NULL);
    char name[64];
    member_name(f, "b", name, sizeof name);
    CHECK(!strcmp(name, "api/(overflow)") && contains(f, "a"),
          "past idle_ttl, a member with an outstanding permit is not evicted (b got %s)", name);
    circuit_permit copy = p;
    CHECK(circuit_record_success(p.breaker, &p) == CIRCUIT_OK, "recorded on the permit's member handle");
    CHECK(circuit_record_success(p.breaker, &p) == CIRCUIT_ERR_ALREADY_RECORDED, "a second record is refused");
    CHECK(circuit_record_success(copy.breaker, &copy) == CIRCUIT_ERR_INVALID_HANDLE, "a copy recorded after it: the handle was released");
    member_name(f, "b", name, sizeof name);
    CHECK(!strcmp(name, "api/b") && !contains(f, "a"), "after recording the member is evicted (b got %s)", name);
    circuit_family_metrics_snapshot m;
    CHECK(circuit_family_metrics(f, &m) == CIRCUIT_OK && m.evicted == 1 && m.overflowed == 1 && m.members == 1 &&
              m.overflow.state == CIRCUIT_STATE_CLOSED,
          "metrics: evicted 1, overflowed 1, members 1 (%llu %llu %llu)", (unsigned long long)m.evicted,
          (unsigned long long)m.overflowed, (unsigned long long)m.members);

    /* Rejections pin nothing and give the retry time. */
    CHECK(circuit_family_allow(f, "b", 1, &p, NULL) == CIRCUIT_OK && circuit_record_failure(p.breaker, &p) == CIRCUIT_OK, "b trips");
    circuit_permit untouched = {0};
    CHECK(circuit_family_allow(f, "b", 1, &untouched, &retry) == CIRCUIT_REJECTED_OPEN && retry == 60 * SECOND && untouched.breaker == 0,
          "an open member rejects with its retry time, permit untouched");
    /* An abandoned permit is recorded ignored, which releases the pin; the family destroy leaves
     * outstanding permits recordable. */
    CHECK(circuit_family_allow(f, "c", 1, &p, NULL) == CIRCUIT_OK, "c admitted (overflow)");
    CHECK(circuit_family_destroy(f) == CIRCUIT_OK, "family destroyed with a permit outstanding");
    CHECK(circuit_record_ignored(p.breaker, &p) == CIRCUIT_OK, "the permit still records after the family is gone");
    circuit_clock_destroy(clock);
}

static void test_probe_permit_and_retry_after(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_family f = make_family(clock, 4, 0);
    circuit_permit p;
    circuit_family_allow(f, "k", 1, &p, NULL);
    circuit_record_failure(p.breaker, &p);
    circuit_clock_manual_advance(clock, 60 * SECOND, NULL);
    CHECK(circuit_family_allow(f, "k", 1, &p, NULL) == CIRCUIT_OK && (p.flags & CIRCUIT_PERMIT_PROBE), "a half-open probe by key");
    CHECK(circuit_record_failure_retry_after(p.breaker, &p, 90 * SECOND) == CIRCUIT_OK, "the probe fails with a retry time");
    uint64_t retry = 0;
    CHECK(circuit_family_allow(f, "k", 1, &p, &retry) == CIRCUIT_REJECTED_OPEN && retry == 90 * SECOND,
          "re-opened for the retry time (%llu)", (unsigned long long)retry);
    circuit_family_destroy(f);
    circuit_clock_destroy(clock);
}

typedef struct {
    char keys[8][16];
    int overflow[8];
    circuit_transition items[8];
    int count;
} keyed_log;

static void on_family(void *userdata, const char *key, size_t key_len, const circuit_transition *t) {
    keyed_log *log = userdata;
    if (log->count >= 8) return;
    int i = log->count++;
    log->overflow[i] = key == NULL;
    memcpy(log->keys[i], key ? key : "", key_len < 15 ? key_len : 15);
    log->keys[i][key_len < 15 ? key_len : 15] = 0;
    log->items[i] = *t;
}

typedef struct {
    char items[8][16];
    int count;
} key_list;

static void collect(void *userdata, const char *key, size_t key_len) {
    key_list *list = userdata;
    if (list->count < 8 && key_len < 16) {
        memcpy(list->items[list->count], key, key_len);
        list->items[list->count++][key_len] = 0;
    }
}

static int by_name(const void *a, const void *b) { return strcmp(a, b); }

static void test_keys_and_listeners(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_family f = make_family(clock, 2, 3600 * SECOND);
    keyed_log *log = calloc(1, sizeof *log);
    uint64_t id = 0;
    CHECK(circuit_family_on_transition(f, on_family, log, &id) == CIRCUIT_OK && id != 0, "family listener added");
    circuit_permit p;
    const char *keys[] = {"b", "a"};
    for (int i = 0; i < 2; i++) {
        circuit_family_allow(f, keys[i], 1, &p, NULL);
        circuit_record_failure(p.breaker, &p); /* opens: pinned */
    }
    CHECK(circuit_family_allow(f, "z", 1, &p, NULL) == CIRCUIT_OK, "a third key gets the overflow breaker");
    circuit_record_failure(p.breaker, &p);
    CHECK(log->count == 3 && !strcmp(log->keys[0], "b") && !strcmp(log->keys[1], "a") && log->overflow[2] &&
              log->items[0].to == CIRCUIT_STATE_OPEN && log->items[0].reason == CIRCUIT_REASON_FAILURE_THRESHOLD,
          "the listener saw b, a and the overflow (NULL key) open (%d events)", log->count);
    key_list list = {0};
    CHECK(circuit_family_keys(f, collect, &list) == CIRCUIT_OK && list.count == 2, "keys visited (%d)", list.count);
    qsort(list.items, (size_t)list.count, sizeof list.items[0], by_name);
    CHECK(!strcmp(list.items[0], "a") && !strcmp(list.items[1], "b"), "the keys are a and b");
    CHECK(circuit_family_remove_listener(f, id) == CIRCUIT_OK, "listener removed");
    CHECK(circuit_family_remove_listener(f, id) == CIRCUIT_ERR_INVALID_ARGUMENT, "a second removal is refused");
    circuit_breaker a = 0;
    circuit_family_get(f, "a", 1, &a);
    circuit_reset(a);
    CHECK(log->count == 3, "a removed listener is not called");
    circuit_destroy(a);
    /* A listener left registered stops at destroy. */
    log->count = 0;
    CHECK(circuit_family_on_transition(f, on_family, log, NULL) == CIRCUIT_OK, "a second listener (no id asked)");
    CHECK(circuit_family_get(f, "b", 1, &a) == CIRCUIT_OK, "a member handle kept past the family");
    circuit_family_destroy(f);
    circuit_reset(a);
    CHECK(log->count == 0, "after circuit_family_destroy no family listener is called");
    circuit_destroy(a);
    free(log);
    circuit_clock_destroy(clock);
}

static void test_name(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_family f = make_family(clock, 4, 0);
    circuit_breaker b = 0;
    circuit_family_get(f, "host:443", 8, &b);
    char name[8];
    size_t n = 0;
    CHECK(circuit_name(b, name, sizeof name, &n) == CIRCUIT_OK && n == 12 && !strcmp(name, "api/hos"),
          "circuit_name truncates like snprintf and gives the full length (%zu, %s)", n, name);
    CHECK(circuit_name(b, NULL, 0, &n) == CIRCUIT_OK && n == 12, "length only");
    CHECK(circuit_name(b, NULL, 4, &n) == CIRCUIT_ERR_NULL_POINTER, "NULL buffer with a length refused");
    circuit_destroy(b);
    CHECK(circuit_name(b, name, sizeof name, &n) == CIRCUIT_ERR_INVALID_HANDLE, "destroyed handle refused");
    circuit_family_destroy(f);
    circuit_clock_destroy(clock);
}

static void test_refused_input(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_family f = make_family(clock, 4, 0);
    circuit_permit p;
    circuit_family_metrics_snapshot m;
    CHECK(circuit_family_allow(f, NULL, 1, &p, NULL) == CIRCUIT_ERR_NULL_POINTER, "allow: NULL key refused");
    CHECK(circuit_family_allow(f, "k", 1, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER, "allow: NULL out_permit refused");
    CHECK(circuit_family_allow(f, "\xff", 1, &p, NULL) == CIRCUIT_ERR_INVALID_ARGUMENT, "allow: non-UTF-8 key refused");
    char message[256];
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "circuit_family_allow") && strstr(message, "key"), "the message names it: %s", message);
    CHECK(circuit_family_allow(0, "k", 1, &p, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "allow: zero family refused");
    CHECK(circuit_family_keys(f, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER, "keys: NULL visitor refused");
    CHECK(circuit_family_metrics(f, NULL) == CIRCUIT_ERR_NULL_POINTER, "metrics: NULL out refused");
    CHECK(circuit_family_on_transition(f, NULL, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER, "on_transition: NULL listener refused");
    CHECK(circuit_family_remove_listener(f, 12345) == CIRCUIT_ERR_INVALID_ARGUMENT, "remove_listener: unknown id refused");
    CHECK(circuit_family_allow(f, NULL, 0, &p, NULL) == CIRCUIT_OK && circuit_record_ignored(p.breaker, &p) == CIRCUIT_OK,
          "the empty key (NULL, 0) is a key");
    circuit_family_destroy(f);
    CHECK(circuit_family_keys(f, collect, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "keys: destroyed family refused");
    CHECK(circuit_family_metrics(f, &m) == CIRCUIT_ERR_INVALID_HANDLE, "metrics: destroyed family refused");
    CHECK(circuit_family_on_transition(f, on_family, NULL, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "on_transition: destroyed family refused");
    CHECK(circuit_family_remove_listener(f, 1) == CIRCUIT_ERR_INVALID_HANDLE, "remove_listener: destroyed family refused");
    circuit_clock_destroy(clock);
}

int main(void) {
    test_allow_pins_until_recorded();
    test_probe_permit_and_retry_after();
    test_keys_and_listeners();
    test_name();
    test_refused_input();
    return tap_done();
}
