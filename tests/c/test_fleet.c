/* Fleet breakers through the C API (docs/c-api.md "Fleet breakers"), without a store: the test is
 * the host, and answers each sync request with a hand-built reply of the script, on a manual
 * clock.
 *
 *   - the script and its SHA-1; option errors name the option; NULL and bad handles;
 *   - a reply that opens the fleet: allow is refused with CIRCUIT_REJECTED_FLEET_OPEN (the local
 *     breaker stays closed), the transition reaches the event callback;
 *   - once the open time has passed, the next sync asks for a probe; a half_open reply granting
 *     lease 7 makes the next allow the fleet's probe (fleet_epoch/fleet_probe in the permit), the
 *     one after it is refused with CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL; the probe's verdict
 *     goes out with the next sync;
 *   - malformed replies (bad fields, unknown kind, NULL items, non-UTF-8, an error string) and a
 *     request freed unanswered count as failed syncs; past max_staleness the store is degraded
 *     (event), a good reply recovers it (event);
 *   - the degraded mode "open" rejects at the fleet level, the events queue without a callback;
 *   - a family refuses a config with a fleet;
 *   - the fleet options' schema: every option described and settable by name with its kind, the
 *     wrong kind and an unknown name refused, a value checked by circuit_fleet_new naming it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "tap.h"

#define MS 1000000ULL
#define SECOND 1000000000ULL

static const char *message(void) {
    static char buf[1024];
    circuit_last_error_message(buf, sizeof buf);
    return buf;
}

static circuit_fleet_event seen[64];
static int seen_count = 0;

static void on_event(const circuit_fleet_event *event, void *userdata) {
    int *calls = userdata;
    ++*calls;
    if (seen_count < 64) seen[seen_count++] = *event;
}

static circuit_fleet_reply i64(int64_t v) {
    circuit_fleet_reply r;
    memset(&r, 0, sizeof r);
    r.kind = CIRCUIT_FLEET_REPLY_INT;
    r.integer = v;
    return r;
}

static circuit_fleet_reply text(const char *s) {
    circuit_fleet_reply r;
    memset(&r, 0, sizeof r);
    r.kind = CIRCUIT_FLEET_REPLY_BYTES;
    r.bytes = (const uint8_t *)s;
    r.len = strlen(s);
    return r;
}

/* Whether argument i of the request is `want`. */
static int arg_is(const circuit_fleet_request *req, size_t i, const char *want) {
    const circuit_fleet_bytes *args = NULL;
    size_t count = 0;
    if (circuit_fleet_request_args(req, &args, &count) != CIRCUIT_OK || i >= count) return 0;
    return args[i].len == strlen(want) && memcmp(args[i].ptr, want, args[i].len) == 0;
}

/* Polls (a sync must be due) and answers with `items`. */
static circuit_status sync_with(circuit_fleet fleet, const circuit_fleet_reply *items, size_t n) {
    circuit_fleet_request *req = NULL;
    circuit_status st = circuit_fleet_poll(fleet, &req);
    if (st != CIRCUIT_OK) return st;
    if (req == NULL) return CIRCUIT_ERR_INVALID_STATE;
    st = circuit_fleet_complete(fleet, req, items, n);
    circuit_fleet_request_free(req);
    return st;
}

static circuit_fleet_status_snapshot status_of(circuit_fleet fleet) {
    circuit_fleet_status_snapshot s;
    memset(&s, 0, sizeof s);
    circuit_fleet_status(fleet, &s);
    return s;
}

static void test_statics_and_errors(void) {
    const char *script = NULL;
    size_t len = 0;
    CHECK(circuit_fleet_script(&script, &len) == CIRCUIT_OK && len > 100 && strstr(script, "redis.call") != NULL,
          "circuit_fleet_script gives the Lua script (%zu bytes)", len);
    const char *sha = circuit_fleet_script_sha1();
    CHECK(sha != NULL && strlen(sha) == 40 && strspn(sha, "0123456789abcdef") == 40, "script SHA-1 is 40 hex digits");
    CHECK(circuit_fleet_script(NULL, &len) == CIRCUIT_ERR_NULL_POINTER, "circuit_fleet_script(NULL) is refused");

    CHECK(strcmp(circuit_status_name(CIRCUIT_REJECTED_FLEET_OPEN), "CIRCUIT_REJECTED_FLEET_OPEN") == 0 &&
              strcmp(circuit_status_name(CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL),
                     "CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL") == 0,
          "status names of the fleet rejections");

    CHECK(circuit_fleet_config_set_buckets(NULL, 3) == CIRCUIT_ERR_NULL_POINTER &&
              strstr(message(), "`config` is NULL") != NULL,
          "a setter on a NULL config names it: %s", message());
    circuit_fleet_config *cfg = circuit_fleet_config_new();
    CHECK(circuit_fleet_config_set_on_store_failure(cfg, 7) == CIRCUIT_ERR_INVALID_ARGUMENT &&
              strstr(message(), "mode") != NULL,
          "an unknown degraded mode is refused: %s", message());
    circuit_fleet f = 0;
    CHECK(circuit_fleet_new(NULL, cfg, &f) == CIRCUIT_ERR_NULL_POINTER && strstr(message(), "`name`") != NULL,
          "circuit_fleet_new(NULL name) is refused: %s", message());
    CHECK(circuit_fleet_new("x", cfg, NULL) == CIRCUIT_ERR_NULL_POINTER, "circuit_fleet_new(NULL out) is refused");
    circuit_fleet_config_set_sync_interval_ns(cfg, 0);
    CHECK(circuit_fleet_new("x", cfg, &f) == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "sync_interval") != NULL &&
              f == 0,
          "sync_interval 0 is refused, naming the option: %s", message());
    circuit_fleet_config_set_sync_interval_ns(cfg, 250 * MS);
    circuit_fleet_config_set_failure_rate_threshold(cfg, 1.5);
    CHECK(circuit_fleet_new("x", cfg, &f) == CIRCUIT_ERR_INVALID_CONFIG &&
              strstr(message(), "failure_rate_threshold") != NULL,
          "failure_rate_threshold 1.5 is refused: %s", message());
    circuit_fleet_config_set_failure_rate_threshold(cfg, 0.5);
    CHECK(circuit_fleet_new("bad{name}", cfg, &f) == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "name") != NULL,
          "a name with braces is refused: %s", message());
    CHECK(circuit_fleet_config_set_manual_clock(cfg, 12345) == CIRCUIT_ERR_INVALID_HANDLE, "a forged clock is refused");
    circuit_fleet_config_free(cfg);
    circuit_fleet_config_free(NULL);

    CHECK(circuit_fleet_new("defaults", NULL, &f) == CIRCUIT_OK && f != 0, "a NULL config takes the defaults");
    uint64_t interval = 0;
    CHECK(circuit_fleet_sync_interval_ns(f, &interval) == CIRCUIT_OK && interval == 250 * MS,
          "the default sync_interval is 250 ms");
    circuit_fleet_request *req = (circuit_fleet_request *)1;
    CHECK(circuit_fleet_poll(f, NULL) == CIRCUIT_ERR_NULL_POINTER, "poll(NULL) is refused");
    CHECK(circuit_fleet_status(f, NULL) == CIRCUIT_ERR_NULL_POINTER, "status(NULL) is refused");
    CHECK(circuit_fleet_complete(f, NULL, NULL, 0) == CIRCUIT_ERR_NULL_POINTER, "complete(NULL request) is refused");
    CHECK(circuit_fleet_fail(f, NULL, "x") == CIRCUIT_ERR_NULL_POINTER, "fail(NULL request) is refused");
    CHECK(circuit_fleet_request_key(NULL, NULL) == CIRCUIT_ERR_NULL_POINTER, "request_key(NULL) is refused");
    CHECK(circuit_fleet_free(f) == CIRCUIT_OK, "circuit_fleet_free");
    CHECK(circuit_fleet_free(f) == CIRCUIT_ERR_INVALID_HANDLE && strstr(message(), "not a live fleet handle") != NULL,
          "a second free is refused: %s", message());
    CHECK(circuit_fleet_poll(f, &req) == CIRCUIT_ERR_INVALID_HANDLE && req == (circuit_fleet_request *)1,
          "poll on a freed fleet is refused, out untouched");
    circuit_fleet_status_snapshot s;
    CHECK(circuit_fleet_status(f, &s) == CIRCUIT_ERR_INVALID_HANDLE, "status on a freed fleet is refused");
    CHECK(circuit_fleet_free(0) == CIRCUIT_OK, "circuit_fleet_free(0) is a no-op");
    CHECK(circuit_fleet_status(987654321, &s) == CIRCUIT_ERR_INVALID_HANDLE, "a forged handle is refused");
    CHECK(circuit_config_set_fleet(NULL, 0) == CIRCUIT_ERR_NULL_POINTER, "set_fleet on a NULL config is refused");
    circuit_config *bc = circuit_config_new();
    CHECK(circuit_config_set_fleet(bc, f) == CIRCUIT_ERR_INVALID_HANDLE, "set_fleet with a freed fleet is refused");
    circuit_config_free(bc);
    circuit_fleet_request_free(NULL);
}

static void test_lifecycle(void) {
    circuit_clock clock = 0;
    circuit_clock_manual_new(&clock);
    circuit_fleet_config *fc = circuit_fleet_config_new();
    circuit_fleet_config_set_manual_clock(fc, clock);
    circuit_fleet_config_set_sync_interval_ns(fc, 100 * MS);
    circuit_fleet_config_set_max_staleness_ns(fc, 3 * SECOND);
    circuit_fleet_config_set_minimum_calls(fc, 4);
    circuit_fleet_config_set_half_open_max_calls(fc, 2);
    circuit_fleet_config_set_reset_timeout_ns(fc, 2 * SECOND);
    circuit_fleet fleet = 0;
    CHECK(circuit_fleet_new("payments", fc, &fleet) == CIRCUIT_OK, "circuit_fleet_new: %s", message());
    circuit_fleet_config_free(fc);
    int calls = 0;
    CHECK(circuit_fleet_on_event(fleet, on_event, &calls) == CIRCUIT_OK, "circuit_fleet_on_event");

    circuit_config *cfg = circuit_config_new();
    circuit_config_set_name(cfg, "payments");
    circuit_config_set_failure_threshold(cfg, 100);
    CHECK(circuit_config_set_fleet(cfg, fleet) == CIRCUIT_OK, "circuit_config_set_fleet");
    circuit_breaker b = 0;
    CHECK(circuit_create(cfg, &b) == CIRCUIT_OK, "a breaker with a fleet: %s", message());
    circuit_family fam = 0;
    CHECK(circuit_family_create(cfg, 10, 0, &fam) == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "fleet") != NULL,
          "a family refuses a config with a fleet: %s", message());
    circuit_config_free(cfg);

    /* The first sync is due at once. */
    circuit_fleet_request *req = NULL;
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req != NULL, "the first sync is due at once");
    circuit_fleet_bytes key;
    CHECK(circuit_fleet_request_key(req, &key) == CIRCUIT_OK && key.len == strlen("circuit:{payments}") &&
              memcmp(key.ptr, "circuit:{payments}", key.len) == 0,
          "the request's key is circuit:{payments}");
    const circuit_fleet_bytes *args = NULL;
    size_t count = 0;
    CHECK(circuit_fleet_request_args(req, &args, &count) == CIRCUIT_OK && count == 19 && args[0].len == 16,
          "19 arguments, the fingerprint first (%zu)", count);
    circuit_fleet_request *again = NULL;
    CHECK(circuit_fleet_poll(fleet, &again) == CIRCUIT_OK && again == NULL, "one sync in flight at a time");
    circuit_fleet_reply closed0[] = {text("ok"), i64(0), text("closed"), i64(0), i64(10000), i64(0), i64(0), i64(0)};
    CHECK(circuit_fleet_complete(fleet, req, closed0, 8) == CIRCUIT_OK, "complete with a closed reply");
    CHECK(circuit_fleet_complete(fleet, req, closed0, 8) == CIRCUIT_ERR_INVALID_ARGUMENT &&
              strstr(message(), "already answered") != NULL,
          "a request is answered once: %s", message());
    circuit_fleet_request_free(req);
    circuit_fleet_status_snapshot s = status_of(fleet);
    CHECK(s.syncs == 1 && s.sync_failures == 0 && s.state == CIRCUIT_STATE_CLOSED && !s.degraded && s.staleness_ns == 0,
          "status after one sync: syncs %llu, failures %llu, staleness %llu", (unsigned long long)s.syncs,
          (unsigned long long)s.sync_failures, (unsigned long long)s.staleness_ns);

    /* Closed: both levels admit; outcomes go into the next sync's deltas. */
    circuit_permit p;
    uint64_t retry = 0;
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_OK && (p.flags & CIRCUIT_PERMIT_FLEET) &&
              !(p.flags & CIRCUIT_PERMIT_FLEET_PROBE),
          "closed fleet: admitted, a fleet permit (flags %u)", p.flags);
    CHECK(circuit_record_failure(b, &p) == CIRCUIT_OK && (p.flags & CIRCUIT_PERMIT_SPENT), "record a failure");
    CHECK(circuit_record_failure(b, &p) == CIRCUIT_ERR_ALREADY_RECORDED, "a second record is refused");
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_OK, "admitted again");
    CHECK(circuit_record_failure_retry_after(b, &p, 2 * SECOND) == CIRCUIT_OK, "record a failure with retry-after");
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_OK && circuit_record_success(b, &p) == CIRCUIT_OK,
          "record a success");
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req == NULL, "no sync before sync_interval");
    circuit_clock_manual_advance(clock, 100 * MS, NULL);
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req != NULL, "a sync after sync_interval");
    CHECK(arg_is(req, 13, "0") && arg_is(req, 14, "3") && arg_is(req, 15, "2") && arg_is(req, 17, "0"),
          "the request carries epoch 0 and the deltas: 3 calls, 2 failures");
    circuit_fleet_reply open1[] = {text("ok"), i64(1), text("open"), i64(2000), i64(10000), i64(10), i64(8), i64(0)};
    CHECK(circuit_fleet_complete(fleet, req, open1, 8) == CIRCUIT_OK, "complete with an open reply");
    circuit_fleet_request_free(req);
    CHECK(calls == 1 && seen[0].kind == CIRCUIT_FLEET_EVENT_TRANSITION && seen[0].from == CIRCUIT_STATE_CLOSED &&
              seen[0].to == CIRCUIT_STATE_OPEN && seen[0].epoch == 1,
          "the callback saw closed -> open, epoch 1 (%d calls)", calls);

    /* Open: refused by the fleet, not by the local breaker. */
    circuit_permit untouched;
    memset(&untouched, 0xAB, sizeof untouched);
    CHECK(circuit_allow(b, &untouched, &retry) == CIRCUIT_REJECTED_FLEET_OPEN && retry == 2 * SECOND &&
              untouched.flags == 0xABABABABu,
          "open fleet: CIRCUIT_REJECTED_FLEET_OPEN, retry after 2 s (%llu), permit untouched",
          (unsigned long long)retry);
    circuit_breaker_state local;
    CHECK(circuit_state(b, &local) == CIRCUIT_OK && local == CIRCUIT_STATE_CLOSED, "the local breaker stays closed");
    s = status_of(fleet);
    CHECK(s.state == CIRCUIT_STATE_OPEN && s.epoch == 1, "status: open, epoch 1");

    /* The open time passes: the next admission asks for a probe at once. */
    circuit_clock_manual_advance(clock, 2 * SECOND, NULL);
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_REJECTED_FLEET_OPEN && retry == 0,
          "open time over: still refused until the store moves it");
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req != NULL && arg_is(req, 17, "1"),
          "a sync asking for one probe is due at once");
    circuit_fleet_reply half2[] = {text("ok"), i64(2), text("half_open"), i64(0), i64(10000), i64(0), i64(0), i64(0),
                                   i64(7)};
    CHECK(circuit_fleet_complete(fleet, req, half2, 9) == CIRCUIT_OK, "complete with half_open granting lease 7");
    circuit_fleet_request_free(req);
    CHECK(calls == 2 && seen[1].from == CIRCUIT_STATE_OPEN && seen[1].to == CIRCUIT_STATE_HALF_OPEN &&
              seen[1].epoch == 2,
          "the callback saw open -> half_open, epoch 2");
    circuit_permit probe;
    CHECK(circuit_allow(b, &probe, &retry) == CIRCUIT_OK && (probe.flags & CIRCUIT_PERMIT_FLEET_PROBE) &&
              probe.fleet_epoch == 2 && probe.fleet_probe == 7,
          "the next allow is the fleet's probe (epoch %llu, lease %llu)", (unsigned long long)probe.fleet_epoch,
          (unsigned long long)probe.fleet_probe);
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL && retry == CIRCUIT_NO_TIME,
          "the one after it: CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL");
    CHECK(circuit_record_success(b, &probe) == CIRCUIT_OK, "record the probe's success");
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req != NULL && arg_is(req, 13, "2") &&
              arg_is(req, 18, "1") && arg_is(req, 19, "2") && arg_is(req, 20, "7") && arg_is(req, 21, "success"),
          "the verdict (epoch 2, lease 7, success) goes out at once");
    circuit_fleet_reply closed3[] = {text("ok"), i64(3), text("closed"), i64(0), i64(10000), i64(0), i64(0), i64(0)};
    CHECK(circuit_fleet_complete(fleet, req, closed3, 8) == CIRCUIT_OK, "complete with closed, epoch 3");
    circuit_fleet_request_free(req);
    CHECK(calls == 3 && seen[2].from == CIRCUIT_STATE_HALF_OPEN && seen[2].to == CIRCUIT_STATE_CLOSED,
          "the callback saw half_open -> closed");
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_OK && circuit_record_ignored(b, &p) == CIRCUIT_OK,
          "closed again: admitted");

    /* A stale reply (an older epoch) does not move the fleet back. */
    circuit_clock_manual_advance(clock, 100 * MS, NULL);
    circuit_fleet_reply stale[] = {text("ok"), i64(1), text("open"), i64(5000), i64(10000), i64(0), i64(0), i64(0)};
    CHECK(sync_with(fleet, stale, 8) == CIRCUIT_OK && status_of(fleet).state == CIRCUIT_STATE_CLOSED &&
              status_of(fleet).epoch == 3 && calls == 3,
          "a reply of an older epoch changes nothing");

    /* Bad replies are failed syncs; past max_staleness the store is degraded. */
    uint64_t failures = status_of(fleet).sync_failures;
    circuit_clock_manual_advance(clock, 1 * SECOND, NULL);
    circuit_fleet_reply bad1[] = {text("ok"), text("x")};
    CHECK(sync_with(fleet, bad1, 2) == CIRCUIT_OK && status_of(fleet).sync_failures == failures + 1,
          "a malformed reply is a failed sync");
    circuit_clock_manual_advance(clock, 1 * SECOND, NULL);
    circuit_fleet_reply bad2[] = {text("ok"), i64(3), text("closed"), i64(0), i64(0), i64(0), i64(0), i64(0)};
    bad2[4].kind = 9;
    CHECK(sync_with(fleet, bad2, 8) == CIRCUIT_OK && status_of(fleet).sync_failures == failures + 2,
          "an unknown item kind is a failed sync");
    circuit_clock_manual_advance(clock, 1 * SECOND, NULL);
    CHECK(sync_with(fleet, NULL, 8) == CIRCUIT_OK && status_of(fleet).sync_failures == failures + 3,
          "NULL items with a count is a failed sync");
    CHECK(calls == 3, "no degraded event within max_staleness");
    circuit_clock_manual_advance(clock, 1 * SECOND, NULL);
    circuit_fleet_reply bad3[] = {text("ok"), i64(3), text("closed"), i64(0), i64(0), i64(0), i64(0), i64(0)};
    static const uint8_t not_utf8[] = {0xff, 0xfe};
    bad3[2].bytes = not_utf8;
    bad3[2].len = 2;
    CHECK(sync_with(fleet, bad3, 8) == CIRCUIT_OK && status_of(fleet).sync_failures == failures + 4,
          "a non-UTF-8 string is a failed sync");
    CHECK(calls == 4 && seen[3].kind == CIRCUIT_FLEET_EVENT_STORE_DEGRADED && status_of(fleet).degraded,
          "past max_staleness: store_degraded (%d calls)", calls);
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_OK && circuit_record_success(b, &p) == CIRCUIT_OK,
          "degraded mode local: the local breaker decides (admitted)");
    circuit_clock_manual_advance(clock, 4 * SECOND, NULL);
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req != NULL, "a retry is due after the back-off");
    CHECK(circuit_fleet_fail(fleet, req, "connection refused") == CIRCUIT_OK &&
              status_of(fleet).sync_failures == failures + 5,
          "circuit_fleet_fail is a failed sync");
    CHECK(circuit_fleet_fail(fleet, req, NULL) == CIRCUIT_ERR_INVALID_ARGUMENT, "and answers the request once");
    circuit_fleet_request_free(req);
    circuit_clock_manual_advance(clock, 4 * SECOND, NULL);
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req != NULL, "another retry");
    circuit_fleet_request_free(req);
    CHECK(status_of(fleet).sync_failures == failures + 6, "a request freed unanswered is a failed sync");
    circuit_clock_manual_advance(clock, 4 * SECOND, NULL);
    circuit_fleet_reply error[] = {text("bad"), text("malformed arguments")};
    CHECK(sync_with(fleet, error, 2) == CIRCUIT_OK && status_of(fleet).sync_failures == failures + 7,
          "an error answer of the script is a failed sync");
    circuit_clock_manual_advance(clock, 4 * SECOND, NULL);
    CHECK(sync_with(fleet, closed3, 8) == CIRCUIT_OK && !status_of(fleet).degraded && calls == 5 &&
              seen[4].kind == CIRCUIT_FLEET_EVENT_STORE_RECOVERED,
          "a good reply: store_recovered");

    /* A request of one fleet is refused by another. */
    circuit_fleet other = 0;
    circuit_fleet_new("other", NULL, &other);
    circuit_clock_manual_advance(clock, 100 * MS, NULL);
    CHECK(circuit_fleet_poll(fleet, &req) == CIRCUIT_OK && req != NULL, "a sync of the first fleet");
    CHECK(circuit_fleet_complete(other, req, closed3, 8) == CIRCUIT_ERR_INVALID_ARGUMENT &&
              strstr(message(), "belongs to fleet") != NULL,
          "another fleet refuses its request: %s", message());
    CHECK(circuit_fleet_complete(fleet, req, closed3, 8) == CIRCUIT_OK, "its own fleet takes it");
    circuit_fleet_request_free(req);
    circuit_fleet_free(other);

    /* A mismatch is reported once, with the stored fingerprint. */
    circuit_clock_manual_advance(clock, 100 * MS, NULL);
    circuit_fleet_reply mismatch[] = {text("mismatch"), text("0123456789abcdef")};
    CHECK(sync_with(fleet, mismatch, 2) == CIRCUIT_OK && calls == 6 && seen[5].kind == CIRCUIT_FLEET_EVENT_MISMATCH &&
              strcmp(seen[5].stored, "0123456789abcdef") == 0,
          "a mismatch event carries the stored fingerprint");

    CHECK(circuit_fleet_on_event(fleet, NULL, NULL) == CIRCUIT_OK, "remove the callback");
    CHECK(circuit_destroy(b) == CIRCUIT_OK, "destroy the breaker");
    CHECK(circuit_fleet_free(fleet) == CIRCUIT_OK, "free the fleet");
    circuit_clock_destroy(clock);
}

static void test_degraded_open(void) {
    circuit_clock clock = 0;
    circuit_clock_manual_new(&clock);
    circuit_fleet_config *fc = circuit_fleet_config_new();
    circuit_fleet_config_set_manual_clock(fc, clock);
    circuit_fleet_config_set_on_store_failure(fc, CIRCUIT_FLEET_DEGRADED_OPEN);
    circuit_fleet_config_set_max_staleness_ns(fc, 1 * SECOND);
    circuit_fleet fleet = 0;
    CHECK(circuit_fleet_new("orders", fc, &fleet) == CIRCUIT_OK, "a fleet with on_store_failure open");
    circuit_fleet_config_free(fc);
    circuit_config *cfg = circuit_config_new();
    circuit_config_set_fleet(cfg, fleet);
    circuit_breaker b = 0;
    circuit_create(cfg, &b);
    circuit_config_free(cfg);
    /* The fleet is freed first: the breaker keeps its fleet level. */
    CHECK(circuit_fleet_free(fleet) == CIRCUIT_OK, "free the fleet before its breaker");
    circuit_permit p;
    uint64_t retry = 0;
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_OK && circuit_record_success(b, &p) == CIRCUIT_OK,
          "within max_staleness of creation: admitted");
    circuit_clock_manual_advance(clock, 2 * SECOND, NULL);
    CHECK(circuit_allow(b, &p, &retry) == CIRCUIT_REJECTED_FLEET_OPEN && retry == CIRCUIT_NO_TIME,
          "never synced past max_staleness, mode open: CIRCUIT_REJECTED_FLEET_OPEN, no retry time");
    circuit_destroy(b);

    /* The event queue, without a callback. */
    circuit_fleet_config *fc2 = circuit_fleet_config_new();
    circuit_fleet_config_set_manual_clock(fc2, clock);
    circuit_fleet_config_set_max_staleness_ns(fc2, 1 * SECOND);
    circuit_fleet f2 = 0;
    circuit_fleet_new("queued", fc2, &f2);
    circuit_fleet_config_free(fc2);
    circuit_clock_manual_advance(clock, 2 * SECOND, NULL);
    circuit_fleet_event event;
    bool has = true;
    CHECK(circuit_fleet_next_event(f2, &event, &has) == CIRCUIT_OK && !has, "the queue starts empty");
    CHECK(circuit_fleet_tick(f2) == CIRCUIT_OK, "circuit_fleet_tick");
    CHECK(circuit_fleet_next_event(f2, &event, &has) == CIRCUIT_OK && has &&
              event.kind == CIRCUIT_FLEET_EVENT_STORE_DEGRADED,
          "store_degraded is queued");
    CHECK(circuit_fleet_next_event(f2, &event, &has) == CIRCUIT_OK && !has, "once");
    CHECK(circuit_fleet_next_event(f2, NULL, &has) == CIRCUIT_ERR_NULL_POINTER, "next_event(NULL) is refused");
    circuit_fleet_free(f2);
    circuit_clock_destroy(clock);
}

/* A documented duration default in nanoseconds (0 if it does not parse). */
static uint64_t default_ns(const char *text) {
    double value = 0;
    char unit[8] = {0};
    if (sscanf(text, "%lf %7s", &value, unit) != 2) return 0;
    double scale = strcmp(unit, "ms") == 0 ? 1e6 : strcmp(unit, "s") == 0 ? 1e9 : strcmp(unit, "h") == 0 ? 3600e9 : 0;
    return (uint64_t)(value * scale);
}

/* The fleet options come from the core's one declaration: described, settable by name. */
static void test_fleet_schema(void) {
    uint32_t count = circuit_fleet_option_count();
    CHECK(count >= 15, "the fleet schema lists the options (%u)", count);
    int described = 0, settable = 0, made = 0;
    for (uint32_t i = 0; i < count; i++) {
        circuit_option info;
        if (circuit_fleet_option_info(i, &info) != CIRCUIT_OK) continue;
        if (info.name && info.default_value && info.bounds && info.doc && info.name[0]) described++;
        circuit_fleet_config *config = circuit_fleet_config_new();
        circuit_status st = CIRCUIT_ERR_PANIC, wrong = CIRCUIT_ERR_PANIC;
        switch (info.kind) {
        case CIRCUIT_OPTION_TEXT:
            st = circuit_fleet_config_set_text(config, info.name, "closed");
            wrong = circuit_fleet_config_set_count(config, info.name, 1);
            break;
        case CIRCUIT_OPTION_COUNT:
            st = circuit_fleet_config_set_count(config, info.name, 1);
            wrong = circuit_fleet_config_set_duration_ns(config, info.name, 1);
            break;
        case CIRCUIT_OPTION_NUMBER:
            /* 1 is valid for every number option (rates in (0, 1], the multiplier >= 1). */
            st = circuit_fleet_config_set_number(config, info.name, 1.0);
            wrong = circuit_fleet_config_set_count(config, info.name, 1);
            break;
        case CIRCUIT_OPTION_DURATION:
            /* Its documented default ("250 ms", "10 s", "24 h"), written back by name. */
            st = circuit_fleet_config_set_duration_ns(config, info.name, default_ns(info.default_value));
            wrong = circuit_fleet_config_set_number(config, info.name, 1.0);
            break;
        case CIRCUIT_OPTION_SEED:
            break;
        }
        if (st == CIRCUIT_OK && wrong == CIRCUIT_ERR_INVALID_ARGUMENT) settable++;
        circuit_fleet fleet = 0;
        if (circuit_fleet_new("schema", config, &fleet) == CIRCUIT_OK) {
            made++;
            circuit_fleet_free(fleet);
        } else {
            printf("# %s: %s\n", info.name, message());
        }
        circuit_fleet_config_free(config);
    }
    CHECK(described == (int)count && settable == (int)count && made == (int)count,
          "every fleet option described (%d), settable by name with its kind (%d), accepted (%d) of %u", described,
          settable, made, count);
    circuit_option info;
    CHECK(circuit_fleet_option_info(count, &info) == CIRCUIT_ERR_INVALID_ARGUMENT, "no fleet option past the end");
    CHECK(circuit_fleet_option_info(0, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_info");

    circuit_fleet_config *config = circuit_fleet_config_new();
    CHECK(circuit_fleet_config_set_count(config, "no_such_option", 1) == CIRCUIT_ERR_INVALID_ARGUMENT &&
              strstr(message(), "no_such_option") != NULL,
          "an unknown fleet option is refused by name: %s", message());
    CHECK(circuit_fleet_config_set_count(NULL, "buckets", 1) == CIRCUIT_ERR_NULL_POINTER &&
              circuit_fleet_config_set_count(config, NULL, 1) == CIRCUIT_ERR_NULL_POINTER &&
              circuit_fleet_config_set_text(config, "on_store_failure", NULL) == CIRCUIT_ERR_NULL_POINTER,
          "NULL config, name or value");
    CHECK(circuit_fleet_config_set_text(config, "on_store_failure", "sideways") == CIRCUIT_ERR_INVALID_ARGUMENT,
          "a bad degraded mode is refused at once");
    CHECK(circuit_fleet_config_set_text(config, "failure_rate_threshold", "none") == CIRCUIT_OK &&
              circuit_fleet_config_set_number(config, "slow_call_rate_threshold", 0.25) == CIRCUIT_OK,
          "a rate rule is turned off with \"none\"");
    CHECK(circuit_fleet_config_set_count(config, "buckets", 0) == CIRCUIT_OK, "values are checked by circuit_fleet_new");
    circuit_fleet fleet = 0;
    CHECK(circuit_fleet_new("schema", config, &fleet) == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "buckets") != NULL,
          "the refused value names its option: %s", message());
    CHECK(circuit_fleet_config_set_count(config, "buckets", 5) == CIRCUIT_OK &&
              circuit_fleet_config_set_duration_ns(config, "sync_interval", 100 * MS) == CIRCUIT_OK &&
              circuit_fleet_new("schema", config, &fleet) == CIRCUIT_OK,
          "set by name, then created: %s", message());
    uint64_t interval = 0;
    CHECK(circuit_fleet_sync_interval_ns(fleet, &interval) == CIRCUIT_OK && interval == 100 * MS, "the option took effect");
    circuit_fleet_free(fleet);
    circuit_fleet_config_free(config);
}

int main(void) {
    test_statics_and_errors();
    test_lifecycle();
    test_degraded_open();
    test_fleet_schema();
    return tap_done();
}
