/* Every fleet conformance vector (tests/conformance/fleet, README "Fleet vectors") through
 * the C API: a breaker with a fleet (circuit_config_set_fleet) on one manual clock, this test being
 * the host that polls the fleet and answers each request with the vector's reply. Options are set
 * by name, through the schemas (circuit_option_info, circuit_fleet_option_info). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "conformance_fleet.h"
#include "tap.h"

static char failure[512];

static const char *message(void) {
    static char buf[1024];
    circuit_last_error_message(buf, sizeof buf);
    return buf;
}

#define FAIL(...)                                                    \
    do {                                                             \
        snprintf(failure, sizeof failure, __VA_ARGS__);              \
        return 0;                                                    \
    } while (0)

static char events[32][160];
static int n_events = 0;

static void on_event(const circuit_fleet_event *e, void *userdata) {
    (void)userdata;
    if (n_events >= 32) return;
    static const char *const kinds[] = {"transition", "store_degraded", "store_recovered", "mismatch"};
    const char *kind = e->kind < 4 ? kinds[e->kind] : "unknown";
    if (e->kind == CIRCUIT_FLEET_EVENT_TRANSITION)
        snprintf(events[n_events++], 160, "%s|%s|%s|%llu|", kind, circuit_state_name(e->from),
                 circuit_state_name(e->to), (unsigned long long)e->epoch);
    else if (e->kind == CIRCUIT_FLEET_EVENT_MISMATCH)
        snprintf(events[n_events++], 160, "%s||||%s", kind, e->stored);
    else
        snprintf(events[n_events++], 160, "%s||||", kind);
}

/* The option's name without a `_ms` suffix, and whether it had one. */
static int strip_ms(const char *key, char *name, size_t size) {
    size_t len = strlen(key);
    int ms = len > 3 && strcmp(key + len - 3, "_ms") == 0;
    snprintf(name, size, "%.*s", (int)(ms ? len - 3 : len), key);
    return ms;
}

static int set_breaker_option(circuit_config *config, const fleet_kv *o) {
    char name[64];
    int ms = strip_ms(o->key, name, sizeof name);
    if (strcmp(name, "name") == 0) return circuit_config_set_name(config, o->text) == CIRCUIT_OK;
    circuit_option info;
    if (circuit_option_info(circuit_option_code(name), &info) != CIRCUIT_OK) return 0;
    switch (info.kind) {
    case CIRCUIT_OPTION_COUNT: return circuit_config_set_count(config, name, (uint32_t)o->value) == CIRCUIT_OK;
    case CIRCUIT_OPTION_NUMBER: return circuit_config_set_number(config, name, o->value) == CIRCUIT_OK;
    case CIRCUIT_OPTION_DURATION:
        return ms && circuit_config_set_duration_ns(config, name, (uint64_t)llround(o->value * 1e6)) == CIRCUIT_OK;
    case CIRCUIT_OPTION_SEED: return circuit_config_set_seed(config, name, (uint64_t)o->value) == CIRCUIT_OK;
    case CIRCUIT_OPTION_TEXT: return circuit_config_set_text(config, name, o->text) == CIRCUIT_OK;
    }
    return 0;
}

static int set_fleet_option(circuit_fleet_config *config, const fleet_kv *o) {
    char name[64];
    int ms = strip_ms(o->key, name, sizeof name);
    for (uint32_t i = 0; i < circuit_fleet_option_count(); i++) {
        circuit_option info;
        if (circuit_fleet_option_info(i, &info) != CIRCUIT_OK || strcmp(info.name, name) != 0) continue;
        if (o->is_null) return circuit_fleet_config_set_text(config, name, "none") == CIRCUIT_OK;
        switch (info.kind) {
        case CIRCUIT_OPTION_COUNT: return circuit_fleet_config_set_count(config, name, (uint32_t)o->value) == CIRCUIT_OK;
        case CIRCUIT_OPTION_NUMBER: return circuit_fleet_config_set_number(config, name, o->value) == CIRCUIT_OK;
        case CIRCUIT_OPTION_DURATION:
            return ms && circuit_fleet_config_set_duration_ns(config, name, (uint64_t)llround(o->value * 1e6)) == CIRCUIT_OK;
        case CIRCUIT_OPTION_TEXT: return circuit_fleet_config_set_text(config, name, o->text) == CIRCUIT_OK;
        case CIRCUIT_OPTION_SEED: return 0;
        }
    }
    return 0;
}

/* Argument i of the request as a number. */
static double arg(const circuit_fleet_request *req, size_t i) {
    const circuit_fleet_bytes *args = NULL;
    size_t count = 0;
    char buf[32];
    if (circuit_fleet_request_args(req, &args, &count) != CIRCUIT_OK || i >= count || args[i].len >= sizeof buf) return -1;
    memcpy(buf, args[i].ptr, args[i].len);
    buf[args[i].len] = 0;
    return strtod(buf, NULL);
}

/* The request's verdicts as "epoch:id:outcome;...". */
static void verdicts_of(const circuit_fleet_request *req, char *out, size_t size) {
    const circuit_fleet_bytes *args = NULL;
    size_t count = 0;
    out[0] = 0;
    circuit_fleet_request_args(req, &args, &count);
    int n = (int)arg(req, 18);
    for (int i = 0; i < n && 21 + 3 * (size_t)i < count; i++) {
        const circuit_fleet_bytes *o = &args[21 + 3 * i];
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%.0f:%.0f:%.*s", i ? ";" : "", arg(req, 19 + 3 * i), arg(req, 20 + 3 * i),
                 (int)o->len, (const char *)o->ptr);
    }
}

static int field_is(const fleet_kv *want, double got_number, const char *got_text) {
    if (want->text != NULL) return got_text != NULL && strcmp(want->text, got_text) == 0;
    return fabs(want->value - got_number) <= 1e-6 * fmax(fabs(want->value), 1.0);
}

static int check_events(const fleet_step *s) {
    if (!s->has_events) {
        n_events = 0;
        return 1;
    }
    int ok = n_events == s->n_events;
    for (int i = 0; ok && i < n_events; i++) ok = strcmp(events[i], s->events[i]) == 0;
    if (!ok) FAIL("%d events (first: %s), want %d (first: %s)", n_events, n_events ? events[0] : "-", s->n_events,
                  s->n_events ? s->events[0] : "-");
    n_events = 0;
    return 1;
}

static circuit_status record(circuit_breaker b, circuit_permit *p, const char *outcome) {
    if (strcmp(outcome, "success") == 0) return circuit_record_success(b, p);
    if (strcmp(outcome, "failure") == 0) return circuit_record_failure(b, p);
    return circuit_record_ignored(b, p);
}

typedef struct {
    const char *name;
    circuit_permit permit;
} kept;

static int run(const fleet_vector *v) {
    circuit_clock clock = 0;
    circuit_clock_manual_new(&clock);
    circuit_fleet_config *fc = circuit_fleet_config_new();
    circuit_fleet_config_set_manual_clock(fc, clock);
    for (int i = 0; i < v->n_fleet; i++)
        if (!set_fleet_option(fc, &v->fleet[i]) && v->invalid_option == NULL) FAIL("fleet option %s: %s", v->fleet[i].key, message());
    const char *name = "vector";
    for (int i = 0; i < v->n_config; i++)
        if (strcmp(v->config[i].key, "name") == 0) name = v->config[i].text;
    circuit_fleet fleet = 0;
    circuit_status st = circuit_fleet_new(name, fc, &fleet);
    circuit_fleet_config_free(fc);
    if (v->invalid_option != NULL) {
        int named = st == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), v->invalid_option) != NULL;
        if (st == CIRCUIT_OK) circuit_fleet_free(fleet);
        circuit_clock_destroy(clock);
        if (!named) FAIL("status %s, message %s, want one naming %s", circuit_status_name(st), message(), v->invalid_option);
        return 1;
    }
    if (st != CIRCUIT_OK) FAIL("circuit_fleet_new: %s", message());
    n_events = 0;
    circuit_fleet_on_event(fleet, on_event, NULL);
    circuit_config *config = circuit_config_new();
    circuit_config_set_manual_clock(config, clock);
    for (int i = 0; i < v->n_config; i++)
        if (!set_breaker_option(config, &v->config[i])) FAIL("option %s: %s", v->config[i].key, message());
    circuit_config_set_fleet(config, fleet);
    circuit_breaker b = 0;
    st = circuit_create(config, &b);
    circuit_config_free(config);
    if (st != CIRCUIT_OK) FAIL("circuit_create: %s", message());
    kept permits[8];
    int n_permits = 0;
    circuit_fleet_request *req = NULL;
    int ok = 1;
    for (int i = 0; ok && i < v->n_steps; i++) {
        const fleet_step *s = &v->steps[i];
        char where[96];
        snprintf(where, sizeof where, "step %d (%s)", i, s->op);
#define STEP_FAIL(...)                                                                 \
    do {                                                                               \
        char detail[400];                                                              \
        snprintf(detail, sizeof detail, __VA_ARGS__);                                  \
        snprintf(failure, sizeof failure, "%s: %s", where, detail);                    \
        ok = 0;                                                                        \
    } while (0)
        if (strcmp(s->op, "advance") == 0) {
            circuit_clock_manual_advance(clock, (uint64_t)llround(s->ms * 1e6), NULL);
        } else if (strcmp(s->op, "fleet_poll") == 0) {
            circuit_fleet_request *polled = NULL;
            circuit_fleet_poll(fleet, &polled);
            n_events = 0; /* what poll delivers itself is not what a vector checks */
            if (s->expect_null) {
                if (polled != NULL) {
                    circuit_fleet_request_free(polled);
                    STEP_FAIL("a sync went out");
                }
                continue;
            }
            if (polled == NULL) {
                STEP_FAIL("no sync is due");
                continue;
            }
            static const char *const names[] = {"epoch", "calls", "failures", "slow", "want"};
            for (int f = 0; ok && f < s->n_fields; f++)
                for (int k = 0; k < 5; k++)
                    if (strcmp(s->fields[f].key, names[k]) == 0 && !field_is(&s->fields[f], arg(polled, 13 + (size_t)k), NULL))
                        STEP_FAIL("%s is %.0f, want %.0f", names[k], arg(polled, 13 + (size_t)k), s->fields[f].value);
            char got[256];
            verdicts_of(polled, got, sizeof got);
            if (ok && s->has_verdicts && strcmp(got, s->verdicts) != 0) STEP_FAIL("verdicts %s, want %s", got, s->verdicts);
            if (req != NULL) circuit_fleet_request_free(req);
            req = polled;
        } else if (strcmp(s->op, "fleet_reply") == 0 || strcmp(s->op, "fleet_fail") == 0) {
            if (req == NULL) {
                STEP_FAIL("no request to answer");
                continue;
            }
            n_events = 0;
            if (strcmp(s->op, "fleet_fail") == 0) {
                st = circuit_fleet_fail(fleet, req, "timeout");
            } else {
                circuit_fleet_reply items[32];
                int n = s->n_reply < 32 ? s->n_reply : 32;
                for (int k = 0; k < n; k++) {
                    memset(&items[k], 0, sizeof items[k]);
                    if (s->reply[k].text != NULL) {
                        items[k].kind = CIRCUIT_FLEET_REPLY_BYTES;
                        items[k].bytes = (const uint8_t *)s->reply[k].text;
                        items[k].len = strlen(s->reply[k].text);
                    } else {
                        items[k].kind = CIRCUIT_FLEET_REPLY_INT;
                        items[k].integer = (int64_t)s->reply[k].value;
                    }
                }
                st = circuit_fleet_complete(fleet, req, items, (size_t)n);
            }
            circuit_fleet_request_free(req);
            req = NULL;
            if (st != CIRCUIT_OK) STEP_FAIL("%s", message());
            else if (!check_events(s)) ok = 0;
        } else if (strcmp(s->op, "fleet_tick") == 0) {
            n_events = 0;
            circuit_fleet_tick(fleet);
            if (!check_events(s)) ok = 0;
        } else if (strcmp(s->op, "fleet_status") == 0) {
            circuit_fleet_status_snapshot snap;
            memset(&snap, 0, sizeof snap);
            circuit_fleet_status(fleet, &snap);
            for (int f = 0; ok && f < s->n_fields; f++) {
                const fleet_kv *w = &s->fields[f];
                int good = strcmp(w->key, "state") == 0      ? field_is(w, 0, circuit_state_name(snap.state))
                           : strcmp(w->key, "epoch") == 0    ? field_is(w, (double)snap.epoch, NULL)
                           : strcmp(w->key, "degraded") == 0 ? field_is(w, snap.degraded ? 1 : 0, NULL)
                           : strcmp(w->key, "syncs") == 0    ? field_is(w, (double)snap.syncs, NULL)
                                                             : field_is(w, (double)snap.sync_failures, NULL);
                if (!good) STEP_FAIL("field %s differs", w->key);
            }
        } else if (strcmp(s->op, "fleet_allow") == 0) {
            circuit_permit p;
            uint64_t retry = 0;
            st = circuit_allow(b, &p, &retry);
            const char *got = st == CIRCUIT_OK                                ? ((p.flags & CIRCUIT_PERMIT_FLEET_PROBE) ? "fleet_probe" : "admitted")
                              : st == CIRCUIT_REJECTED_FLEET_OPEN           ? "fleet_open"
                              : st == CIRCUIT_REJECTED_FLEET_HALF_OPEN_FULL ? "fleet_half_open_full"
                                                                            : "local_rejected";
            if (strcmp(got, s->expect) != 0) STEP_FAIL("got %s (%s), want %s", got, circuit_status_name(st), s->expect);
            if (ok && st != CIRCUIT_OK && s->has_retry) {
                int good = s->retry_null ? retry == CIRCUIT_NO_TIME : fabs((double)retry / 1e6 - s->retry_ms) < 1e-6;
                if (!good) STEP_FAIL("retry after %llu ns, want %g ms", (unsigned long long)retry, s->retry_ms);
            }
            if (st == CIRCUIT_OK) {
                if (s->permit != NULL && n_permits < 8) {
                    permits[n_permits].name = s->permit;
                    permits[n_permits++].permit = p;
                } else {
                    circuit_record_ignored(b, &p);
                }
            }
        } else if (strcmp(s->op, "call") == 0) {
            for (long r = 0; ok && r < s->repeat; r++) {
                circuit_permit p;
                uint64_t retry = 0;
                if (circuit_allow(b, &p, &retry) != CIRCUIT_OK) STEP_FAIL("refused: %s", message());
                else if (record(b, &p, s->outcome) != CIRCUIT_OK) STEP_FAIL("not counted: %s", message());
            }
        } else if (strcmp(s->op, "record") == 0) {
            int found = 0;
            for (int k = 0; k < n_permits; k++) {
                if (permits[k].name == NULL || strcmp(permits[k].name, s->permit) != 0) continue;
                found = 1;
                st = record(b, &permits[k].permit, s->outcome);
                permits[k].name = NULL;
                const char *got = st == CIRCUIT_OK ? "counted" : st == CIRCUIT_STALE ? "stale" : circuit_status_name(st);
                if (strcmp(got, s->expect) != 0) STEP_FAIL("got %s, want %s", got, s->expect);
            }
            if (!found) STEP_FAIL("no permit %s", s->permit);
        } else if (strcmp(s->op, "state") == 0) {
            circuit_breaker_state state;
            circuit_state(b, &state);
            if (strcmp(circuit_state_name(state), s->expect) != 0) STEP_FAIL("state %s, want %s", circuit_state_name(state), s->expect);
        } else if (strcmp(s->op, "metrics") == 0) {
            circuit_metrics_snapshot m;
            circuit_metrics(b, &m);
            for (int f = 0; ok && f < s->n_fields; f++) {
                const fleet_kv *w = &s->fields[f];
                double got = strcmp(w->key, "admitted") == 0    ? (double)m.admitted
                             : strcmp(w->key, "ignored") == 0   ? (double)m.ignored
                             : strcmp(w->key, "rejected") == 0  ? (double)m.rejected
                             : strcmp(w->key, "successes") == 0 ? (double)m.successes
                                                                : (double)m.failures;
                if (!field_is(w, got, NULL)) STEP_FAIL("%s is %g, want %g", w->key, got, w->value);
            }
        } else {
            STEP_FAIL("unknown op");
        }
#undef STEP_FAIL
    }
    if (req != NULL) circuit_fleet_request_free(req);
    circuit_destroy(b);
    circuit_fleet_free(fleet);
    circuit_clock_destroy(clock);
    return ok;
}

int main(void) {
    CHECK(fleet_vector_count >= 12, "the fleet vectors are there (%d)", fleet_vector_count);
    for (int i = 0; i < fleet_vector_count; i++) {
        failure[0] = 0;
        int ok = run(&fleet_vectors[i]);
        CHECK(ok, "%s%s%s", fleet_vectors[i].name, ok ? "" : ": ", failure);
    }
    return tap_done();
}
