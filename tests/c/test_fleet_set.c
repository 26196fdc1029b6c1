/* Fleet sets through the C API (docs/fleet.md "Families and fleet sets", docs/c-api.md "Fleet
 * sets"): one fleet config, a fleet breaker per name made on demand, synced by the test acting as
 * the host with hand-built replies of the script, on a manual clock.
 *
 *   - option errors name the option; NULL and bad handles; a family with a set needs a name;
 *   - a family with a set: each member goes through the set's fleet of its name (`api/<key>`,
 *     request key `circuit:{api/<key>}`), both with circuit_family_allow and with a member handle
 *     from circuit_family_get; an open reply for one member refuses that member only
 *     (CIRCUIT_REJECTED_FLEET_OPEN), the others' fleets stay closed;
 *   - a breaker created from a config with the set gets the fleet of its own name;
 *   - circuit_fleet_set_fleets lists the fleets, circuit_fleet_name names them, their handles are
 *     the set's (circuit_fleet_free refuses them);
 *   - an idle fleet no breaker holds is forgotten after idle_ttl (its handle stops being valid),
 *     an open one, or one a breaker holds, is kept; a forgotten name made again starts afresh;
 *   - circuit_fleet_set_free releases every fleet handle of the set. */
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

/* The set's fleet named `name`, or 0. */
static circuit_fleet fleet_named(circuit_fleet_set set, const char *name) {
    circuit_fleet fleets[16];
    size_t n = 0;
    if (circuit_fleet_set_fleets(set, fleets, 16, &n) != CIRCUIT_OK) return 0;
    for (size_t i = 0; i < n && i < 16; i++) {
        char buf[64];
        size_t len = 0;
        if (circuit_fleet_name(fleets[i], buf, sizeof buf, &len) == CIRCUIT_OK && len == strlen(name) &&
            memcmp(buf, name, len) == 0)
            return fleets[i];
    }
    return 0;
}

static size_t fleet_count(circuit_fleet_set set) {
    size_t n = 0;
    circuit_fleet_set_fleets(set, NULL, 0, &n);
    return n;
}

/* Polls `fleet` (a sync must be due; its key must be `key`) and answers with state `state`. */
static int sync_state(circuit_fleet fleet, const char *key, const char *state, int64_t epoch) {
    circuit_fleet_request *req = NULL;
    if (circuit_fleet_poll(fleet, &req) != CIRCUIT_OK || req == NULL) return 0;
    circuit_fleet_bytes k;
    int ok = circuit_fleet_request_key(req, &k) == CIRCUIT_OK && k.len == strlen(key) && memcmp(k.ptr, key, k.len) == 0;
    circuit_fleet_reply reply[] = {text("ok"), i64(epoch), text(state), i64(strcmp(state, "open") == 0 ? 30000 : 0),
                                   i64(10000), i64(0), i64(0), i64(0)};
    ok = ok && circuit_fleet_complete(fleet, req, reply, 8) == CIRCUIT_OK;
    circuit_fleet_request_free(req);
    return ok;
}

static void test_errors(void) {
    circuit_fleet_config *fc = circuit_fleet_config_new();
    circuit_fleet_config_set_count(fc, "buckets", 0);
    circuit_fleet_set set = 0;
    CHECK(circuit_fleet_set_new(fc, 0, &set) == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "`buckets`") != NULL,
          "an invalid option is refused, named: %s", message());
    circuit_fleet_config_free(fc);
    CHECK(circuit_fleet_set_new(NULL, 0, NULL) == CIRCUIT_ERR_NULL_POINTER, "circuit_fleet_set_new(out NULL)");
    CHECK(circuit_fleet_set_new(NULL, 0, &set) == CIRCUIT_OK, "a set with every default");
    size_t n = 99;
    CHECK(circuit_fleet_set_fleets(set, NULL, 0, &n) == CIRCUIT_OK && n == 0, "a new set holds no fleet");
    CHECK(circuit_fleet_set_fleets(set, NULL, 1, &n) == CIRCUIT_ERR_NULL_POINTER, "a NULL buffer with a capacity");
    CHECK(circuit_fleet_set_fleets(set + 1, NULL, 0, &n) == CIRCUIT_ERR_INVALID_HANDLE, "a forged set handle");
    circuit_config *cfg = circuit_config_new();
    CHECK(circuit_config_set_fleet_set(cfg, 12345) == CIRCUIT_ERR_INVALID_HANDLE, "set_fleet_set with a forged handle");
    CHECK(circuit_config_set_fleet_set(NULL, set) == CIRCUIT_ERR_NULL_POINTER, "set_fleet_set(NULL config)");
    CHECK(circuit_config_set_fleet_set(cfg, set) == CIRCUIT_OK, "set_fleet_set");
    circuit_family fam = 0;
    CHECK(circuit_family_create(cfg, 10, 0, &fam) == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "name") != NULL,
          "a family with a fleet set needs a name: %s", message());
    circuit_breaker b = 0;
    CHECK(circuit_create(cfg, &b) == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "name") != NULL,
          "a breaker with a fleet set needs a name: %s", message());
    circuit_config_free(cfg);
    CHECK(circuit_fleet_set_free(set) == CIRCUIT_OK && circuit_fleet_set_free(set) == CIRCUIT_ERR_INVALID_HANDLE &&
              circuit_fleet_set_free(0) == CIRCUIT_OK,
          "circuit_fleet_set_free: once; 0 is ignored");
    CHECK(circuit_fleet_name(1, NULL, 0, &n) == CIRCUIT_ERR_INVALID_HANDLE, "circuit_fleet_name of a forged handle");
}

static void test_family_members(void) {
    circuit_clock clock = 0;
    circuit_clock_manual_new(&clock);
    circuit_fleet_config *fc = circuit_fleet_config_new();
    circuit_fleet_config_set_manual_clock(fc, clock);
    circuit_fleet_config_set_sync_interval_ns(fc, 100 * MS);
    circuit_fleet_config_set_max_staleness_ns(fc, 3600 * SECOND);
    circuit_fleet_set set = 0;
    CHECK(circuit_fleet_set_new(fc, 10 * SECOND, &set) == CIRCUIT_OK, "circuit_fleet_set_new: %s", message());
    circuit_fleet_config_free(fc);

    circuit_config *cfg = circuit_config_new();
    circuit_config_set_name(cfg, "api");
    circuit_config_set_manual_clock(cfg, clock);
    CHECK(circuit_config_set_fleet_set(cfg, set) == CIRCUIT_OK, "circuit_config_set_fleet_set");
    circuit_family fam = 0;
    CHECK(circuit_family_create(cfg, 10, 0, &fam) == CIRCUIT_OK, "a family with a fleet set: %s", message());
    circuit_config_set_name(cfg, "solo");
    circuit_breaker solo = 0;
    CHECK(circuit_create(cfg, &solo) == CIRCUIT_OK, "a breaker with a fleet set: %s", message());
    circuit_config_free(cfg);

    circuit_permit p;
    uint64_t retry = 0;
    CHECK(circuit_family_allow(fam, "a", 1, &p, &retry) == CIRCUIT_OK && (p.flags & CIRCUIT_PERMIT_FLEET) &&
              (p.flags & CIRCUIT_PERMIT_MEMBER),
          "circuit_family_allow: a fleet permit of a member (flags %u)", p.flags);
    CHECK(circuit_record_success(p.breaker, &p) == CIRCUIT_OK, "recorded on both levels");
    CHECK(circuit_allow(p.breaker, &p, &retry) == CIRCUIT_ERR_INVALID_HANDLE, "the record released the permit's handle");
    CHECK(circuit_family_allow(fam, "b", 1, &p, &retry) == CIRCUIT_OK && circuit_record_ignored(p.breaker, &p) == CIRCUIT_OK,
          "member b: admitted and recorded");
    CHECK(fleet_count(set) == 3, "three fleets: api/a, api/b, solo (%zu)", fleet_count(set));
    circuit_fleet fa = fleet_named(set, "api/a"), fb = fleet_named(set, "api/b"), fs = fleet_named(set, "solo");
    CHECK(fa != 0 && fb != 0 && fs != 0 && fa != fb, "circuit_fleet_name names each fleet");
    char small[3];
    size_t len = 0;
    CHECK(circuit_fleet_name(fa, small, sizeof small, &len) == CIRCUIT_OK && len == 5 && memcmp(small, "api", 3) == 0,
          "circuit_fleet_name truncates to the buffer and gives the full length");
    CHECK(circuit_fleet_free(fa) == CIRCUIT_ERR_INVALID_ARGUMENT && strstr(message(), "fleet set") != NULL,
          "a set's fleet is not freed by circuit_fleet_free: %s", message());

    /* api/a opens fleet-wide; api/b and solo stay closed. */
    CHECK(sync_state(fa, "circuit:{api/a}", "open", 1), "api/a syncs on its own key and learns it is open");
    CHECK(sync_state(fb, "circuit:{api/b}", "closed", 0), "api/b syncs on its own key");
    CHECK(sync_state(fs, "circuit:{solo}", "closed", 0), "solo syncs on its own key");
    CHECK(circuit_family_allow(fam, "a", 1, &p, &retry) == CIRCUIT_REJECTED_FLEET_OPEN && retry > 0,
          "member a is refused by its fleet (retry %llu ns)", (unsigned long long)retry);
    circuit_breaker ha = 0;
    CHECK(circuit_family_get(fam, "a", 1, &ha) == CIRCUIT_OK, "circuit_family_get a");
    CHECK(circuit_allow(ha, &p, &retry) == CIRCUIT_REJECTED_FLEET_OPEN, "its member handle too");
    circuit_breaker_state st;
    CHECK(circuit_state(ha, &st) == CIRCUIT_OK && st == CIRCUIT_STATE_CLOSED, "the local breaker stays closed");
    circuit_destroy(ha);
    CHECK(circuit_family_allow(fam, "b", 1, &p, &retry) == CIRCUIT_OK && circuit_record_failure(p.breaker, &p) == CIRCUIT_OK,
          "member b is admitted");
    CHECK(circuit_allow(solo, &p, &retry) == CIRCUIT_OK && circuit_record_success(solo, &p) == CIRCUIT_OK,
          "the breaker solo is admitted");

    /* Idle sweeping: b sends its failure, then stays idle; a is open, solo is held. */
    circuit_clock_manual_advance(clock, 100 * MS, NULL);
    CHECK(sync_state(fb, "circuit:{api/b}", "closed", 0), "api/b sends its outcome");
    CHECK(fleet_count(set) == 3, "nothing forgotten before idle_ttl");
    circuit_clock_manual_advance(clock, 11 * SECOND, NULL);
    CHECK(fleet_count(set) == 2 && fleet_named(set, "api/b") == 0 && fleet_named(set, "api/a") == fa &&
              fleet_named(set, "solo") == fs,
          "idle api/b is forgotten; open api/a and held solo are kept");
    circuit_fleet_request *req = NULL;
    CHECK(circuit_fleet_poll(fb, &req) == CIRCUIT_ERR_INVALID_HANDLE, "a forgotten fleet's handle is invalid");
    CHECK(circuit_family_allow(fam, "b", 1, &p, &retry) == CIRCUIT_OK && circuit_record_success(p.breaker, &p) == CIRCUIT_OK,
          "member b again: a new fleet, admitted before its first sync");
    circuit_fleet fb2 = fleet_named(set, "api/b");
    CHECK(fb2 != 0 && fb2 != fb && circuit_fleet_poll(fb2, &req) == CIRCUIT_OK && req != NULL,
          "api/b made again, with a new handle, its first sync due at once");
    circuit_fleet_request_free(req);

    /* Freed before the family: the family keeps working on fleets no host syncs any more. */
    CHECK(circuit_fleet_set_free(set) == CIRCUIT_OK, "circuit_fleet_set_free");
    CHECK(circuit_fleet_poll(fa, &req) == CIRCUIT_ERR_INVALID_HANDLE, "the set's fleet handles are released with it");
    CHECK(circuit_family_allow(fam, "c", 1, &p, &retry) == CIRCUIT_OK && circuit_record_success(p.breaker, &p) == CIRCUIT_OK,
          "a new member of a family that outlived its set is admitted");
    CHECK(circuit_family_allow(fam, "a", 1, &p, &retry) == CIRCUIT_REJECTED_FLEET_OPEN,
          "an existing member keeps its fleet level as last synced");
    CHECK(circuit_family_destroy(fam) == CIRCUIT_OK && circuit_destroy(solo) == CIRCUIT_OK, "destroy the family and the breaker");
    circuit_clock_destroy(clock);
}

int main(void) {
    test_errors();
    test_family_members();
    return tap_done();
}
