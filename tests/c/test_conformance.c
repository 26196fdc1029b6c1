/* Runs every conformance vector (the JSON files in tests/conformance, turned into a C table by
 * scripts/gen-c-vectors) through the public C ABI. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "conformance.h"
#include "tap.h"

#define MAX_PERMITS 64
#define MAX_EVENTS 64

typedef struct {
    circuit_transition items[MAX_EVENTS];
    int count;
} event_log;

static void on_transition(void *userdata, circuit_breaker breaker, const circuit_transition *t) {
    (void)breaker;
    event_log *log = (event_log *)userdata;
    if (log->count < MAX_EVENTS) {
        log->items[log->count++] = *t;
    }
}

/* What the family listener received: each transition with its key (NULL for the overflow). */
typedef struct {
    circuit_transition items[MAX_EVENTS];
    char keys[MAX_EVENTS][32];
    int overflow[MAX_EVENTS];
    int count;
} family_log;

static void on_family_transition(void *userdata, const char *key, size_t key_len, const circuit_transition *t) {
    family_log *log = (family_log *)userdata;
    if (log->count < MAX_EVENTS) {
        int i = log->count++;
        log->items[i] = *t;
        log->overflow[i] = key == NULL;
        size_t n = key_len < sizeof log->keys[i] - 1 ? key_len : sizeof log->keys[i] - 1;
        if (key) memcpy(log->keys[i], key, n);
        log->keys[i][n] = 0;
    }
}

typedef struct {
    char items[MAX_EVENTS][32];
    int count;
} key_list;

static void collect_key(void *userdata, const char *key, size_t key_len) {
    key_list *keys = (key_list *)userdata;
    if (keys->count < MAX_EVENTS) {
        size_t n = key_len < sizeof keys->items[0] - 1 ? key_len : sizeof keys->items[0] - 1;
        memcpy(keys->items[keys->count], key, n);
        keys->items[keys->count++][n] = 0;
    }
}

static int compare_keys(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static uint64_t ms_to_ns(double ms) { return (uint64_t)llround(ms * 1e6); }

static int near(double expected, double actual) {
    double scale = fabs(expected) > 1.0 ? fabs(expected) : 1.0;
    return fabs(expected - actual) <= 1e-6 * scale;
}

static circuit_status apply_option(circuit_config *config, const kv *option) {
    const char *k = option->key;
    double v = option->value;
    if (!strcmp(k, "name")) return circuit_config_set_name(config, option->text);
    if (!strcmp(k, "failure_threshold")) return circuit_config_set_failure_threshold(config, (uint32_t)v);
    if (!strcmp(k, "failure_rate_threshold")) return circuit_config_set_failure_rate_threshold(config, v);
    if (!strcmp(k, "slow_call_duration_ms")) return circuit_config_set_slow_call_duration_ns(config, ms_to_ns(v));
    if (!strcmp(k, "slow_call_rate_threshold")) return circuit_config_set_slow_call_rate_threshold(config, v);
    if (!strcmp(k, "minimum_calls")) return circuit_config_set_minimum_calls(config, (uint32_t)v);
    if (!strcmp(k, "window_size")) return circuit_config_set_window_size(config, (uint32_t)v);
    if (!strcmp(k, "window_duration_ms")) return circuit_config_set_window_duration_ns(config, ms_to_ns(v));
    if (!strcmp(k, "window_buckets")) return circuit_config_set_window_buckets(config, (uint32_t)v);
    if (!strcmp(k, "reset_timeout_ms")) return circuit_config_set_reset_timeout_ns(config, ms_to_ns(v));
    if (!strcmp(k, "backoff_multiplier")) return circuit_config_set_backoff_multiplier(config, v);
    if (!strcmp(k, "max_reset_timeout_ms")) return circuit_config_set_max_reset_timeout_ns(config, ms_to_ns(v));
    if (!strcmp(k, "jitter")) return circuit_config_set_jitter(config, v);
    if (!strcmp(k, "jitter_seed")) return circuit_config_set_jitter_seed(config, (uint64_t)v);
    if (!strcmp(k, "half_open_max_calls")) return circuit_config_set_half_open_max_calls(config, (uint32_t)v);
    if (!strcmp(k, "success_threshold")) return circuit_config_set_success_threshold(config, (uint32_t)v);
    if (!strcmp(k, "half_open_max_wait_ms")) return circuit_config_set_half_open_max_wait_ns(config, ms_to_ns(v));
    return CIRCUIT_ERR_INVALID_ARGUMENT;
}

static double metric(const circuit_metrics_snapshot *m, const char *field, int *is_null, const char **text) {
    *is_null = 0;
    *text = NULL;
    if (!strcmp(field, "state")) { *text = circuit_state_name(m->state); return 0; }
    if (!strcmp(field, "generation")) return (double)m->generation;
    if (!strcmp(field, "consecutive_failures")) return (double)m->consecutive_failures;
    if (!strcmp(field, "window_calls")) return (double)m->window_calls;
    if (!strcmp(field, "window_failures")) return (double)m->window_failures;
    if (!strcmp(field, "window_slow")) return (double)m->window_slow;
    if (!strcmp(field, "failure_rate")) return m->failure_rate;
    if (!strcmp(field, "slow_rate")) return m->slow_rate;
    if (!strcmp(field, "admitted")) return (double)m->admitted;
    if (!strcmp(field, "rejected")) return (double)m->rejected;
    if (!strcmp(field, "rejected_open")) return (double)m->rejected_open;
    if (!strcmp(field, "rejected_half_open_full")) return (double)m->rejected_half_open_full;
    if (!strcmp(field, "rejected_forced_open")) return (double)m->rejected_forced_open;
    if (!strcmp(field, "successes")) return (double)m->successes;
    if (!strcmp(field, "failures")) return (double)m->failures;
    if (!strcmp(field, "ignored")) return (double)m->ignored;
    if (!strcmp(field, "slow")) return (double)m->slow;
    if (!strcmp(field, "stale")) return (double)m->stale;
    if (!strcmp(field, "opened")) return (double)m->opened;
    if (!strcmp(field, "time_in_state_ms")) return (double)m->time_in_state_ns / 1e6;
    if (!strcmp(field, "retry_after_ms")) {
        if (m->retry_after_ns == CIRCUIT_NO_TIME) { *is_null = 1; return 0; }
        return (double)m->retry_after_ns / 1e6;
    }
    *is_null = -1;
    return 0;
}

static circuit_status record(circuit_breaker b, circuit_permit *p, const char *outcome) {
    if (!strcmp(outcome, "success")) return circuit_record_success(b, p);
    if (!strcmp(outcome, "failure")) return circuit_record_failure(b, p);
    return circuit_record_ignored(b, p);
}

static const char *status_word(circuit_status s) {
    switch (s) {
        case CIRCUIT_OK: return "counted";
        case CIRCUIT_STALE: return "stale";
        case CIRCUIT_ERR_ALREADY_RECORDED: return "already_recorded";
        default: return circuit_status_name(s);
    }
}

static const char *outcome_name(circuit_outcome o) {
    switch (o) {
        case CIRCUIT_OUTCOME_SUCCESS: return "success";
        case CIRCUIT_OUTCOME_FAILURE: return "failure";
        case CIRCUIT_OUTCOME_IGNORED: return "ignored";
        default: return "?";
    }
}

static circuit_http_error http_error_kind(const char *name) {
    if (!strcmp(name, "connect")) return CIRCUIT_HTTP_ERROR_CONNECT;
    if (!strcmp(name, "timeout")) return CIRCUIT_HTTP_ERROR_TIMEOUT;
    if (!strcmp(name, "cancelled")) return CIRCUIT_HTTP_ERROR_CANCELLED;
    if (!strcmp(name, "other")) return CIRCUIT_HTTP_ERROR_OTHER;
    return 99; /* refused by the library: the step then fails */
}

/* The verdict on an http_response / http_call step through the C ABI. */
static circuit_status http_verdict(const step *s, circuit_outcome *outcome, uint64_t *retry_ns) {
    *retry_ns = CIRCUIT_NO_TIME;
    if (s->error) return circuit_http_classify_error(http_error_kind(s->error), outcome);
    const char *header = s->has_retry_after ? s->retry_after : NULL;
    size_t header_len = header ? strlen(header) : 0;
    return circuit_http_classify_response((uint16_t)s->status, header, header_len, (int64_t)s->now_unix_s * 1000000000LL,
                                          outcome, retry_ns);
}

static circuit_status record_outcome(circuit_breaker b, circuit_permit *p, circuit_outcome o, uint64_t retry_ns) {
    switch (o) {
        case CIRCUIT_OUTCOME_SUCCESS: return circuit_record_success(b, p);
        case CIRCUIT_OUTCOME_IGNORED: return circuit_record_ignored(b, p);
        default: return retry_ns == CIRCUIT_NO_TIME ? circuit_record_failure(b, p) : circuit_record_failure_retry_after(b, p, retry_ns);
    }
}

static int retry_matches(const step *s, uint64_t retry_ns) {
    if (!s->has_expect_retry) return 1;
    if (s->expect_retry_null) return retry_ns == CIRCUIT_NO_TIME;
    return retry_ns != CIRCUIT_NO_TIME && near(s->expect_retry_ms, (double)retry_ns / 1e6);
}

/* The HTTP ops; returns NULL when the step passes, or sets `why`. `handled` is cleared for other ops. */
static const char *http_step(const step *s, int si, circuit_breaker b, char *why, size_t why_len, int *handled) {
    *handled = 1;
    circuit_outcome outcome = CIRCUIT_OUTCOME_IGNORED;
    uint64_t retry_ns = CIRCUIT_NO_TIME;
    if (!strcmp(s->op, "http_status")) {
        outcome = circuit_http_classify_status((uint16_t)s->status);
        if (strcmp(outcome_name(outcome), s->expect)) {
            snprintf(why, why_len, "step %d: status %ld classified %s", si, s->status, outcome_name(outcome));
            return why;
        }
    } else if (!strcmp(s->op, "http_error")) {
        circuit_status st = circuit_http_classify_error(http_error_kind(s->error), &outcome);
        if (st != CIRCUIT_OK || strcmp(outcome_name(outcome), s->expect)) {
            snprintf(why, why_len, "step %d: error %s classified %s (%s)", si, s->error, outcome_name(outcome), circuit_status_name(st));
            return why;
        }
    } else if (!strcmp(s->op, "http_response")) {
        circuit_status st = http_verdict(s, &outcome, &retry_ns);
        if (st != CIRCUIT_OK || strcmp(outcome_name(outcome), s->expect) || !retry_matches(s, retry_ns)) {
            snprintf(why, why_len, "step %d: classified %s, retry %llu ns (%s)", si, outcome_name(outcome),
                     (unsigned long long)retry_ns, circuit_status_name(st));
            return why;
        }
    } else if (!strcmp(s->op, "http_call")) {
        circuit_permit p;
        circuit_status st = circuit_allow(b, &p, NULL);
        if (st != CIRCUIT_OK) {
            snprintf(why, why_len, "step %d: call rejected: %s", si, circuit_status_name(st));
            return why;
        }
        st = http_verdict(s, &outcome, &retry_ns);
        if (st == CIRCUIT_OK) st = record_outcome(b, &p, outcome, retry_ns);
        else circuit_record_ignored(b, &p);
        if (st != CIRCUIT_OK) {
            snprintf(why, why_len, "step %d: http call recorded as %s", si, circuit_status_name(st));
            return why;
        }
    } else {
        *handled = 0;
    }
    return NULL;
}

static const char *reject_reason(circuit_status s) {
    switch (s) {
        case CIRCUIT_REJECTED_OPEN: return "open";
        case CIRCUIT_REJECTED_HALF_OPEN_FULL: return "half_open_full";
        case CIRCUIT_REJECTED_FORCED_OPEN: return "forced_open";
        default: return NULL;
    }
}

/* The family ops but family_allow (which shares allow's permits); NULL when the step passes. */
static const char *family_step(const step *s, int si, circuit_family f, family_log *flog, char *why, size_t why_len, int *handled) {
    *handled = 1;
    const char *key = s->key ? s->key : "";
    if (!strncmp(s->op, "family_", 7) && !f) {
        snprintf(why, why_len, "step %d: %s in a vector without a family", si, s->op);
        return why;
    }
    if (!strcmp(s->op, "family_call")) {
        circuit_breaker m = 0;
        circuit_status st = circuit_family_get(f, key, strlen(key), &m);
        for (long r = 0; st == CIRCUIT_OK && r < s->repeat; r++) {
            circuit_permit p;
            st = circuit_allow(m, &p, NULL);
            if (st == CIRCUIT_OK) st = record(m, &p, s->outcome);
        }
        if (m) circuit_destroy(m);
        if (st != CIRCUIT_OK) {
            snprintf(why, why_len, "step %d: family call on %s: %s", si, key, circuit_status_name(st));
            return why;
        }
    } else if (!strcmp(s->op, "family_get")) {
        circuit_breaker m = 0;
        char name[128] = "";
        size_t name_len = 0;
        circuit_breaker_state state = CIRCUIT_STATE_CLOSED;
        circuit_status st = circuit_family_get(f, key, strlen(key), &m);
        if (st == CIRCUIT_OK) st = circuit_name(m, name, sizeof name, &name_len);
        if (st == CIRCUIT_OK) st = circuit_state(m, &state);
        if (m) circuit_destroy(m);
        if (st != CIRCUIT_OK || (s->expect_name && (strcmp(name, s->expect_name) || name_len != strlen(s->expect_name))) ||
            (s->expect_state && strcmp(circuit_state_name(state), s->expect_state))) {
            snprintf(why, why_len, "step %d: member %s is %s (%s), %s", si, key, name, circuit_state_name(state), circuit_status_name(st));
            return why;
        }
    } else if (!strcmp(s->op, "family_contains")) {
        bool contains = false;
        circuit_status st = circuit_family_contains(f, key, strlen(key), &contains);
        if (st != CIRCUIT_OK || contains != (s->expect_value != 0)) {
            snprintf(why, why_len, "step %d: contains %s is %d", si, key, (int)contains);
            return why;
        }
    } else if (!strcmp(s->op, "family_len")) {
        size_t len = 0;
        circuit_status st = circuit_family_len(f, &len);
        if (st != CIRCUIT_OK || (double)len != s->expect_value) {
            snprintf(why, why_len, "step %d: len is %zu", si, len);
            return why;
        }
    } else if (!strcmp(s->op, "family_keys")) {
        key_list keys = {0};
        circuit_status st = circuit_family_keys(f, collect_key, &keys);
        qsort(keys.items, (size_t)keys.count, sizeof keys.items[0], compare_keys);
        int ok = st == CIRCUIT_OK && keys.count == s->n_keys;
        for (int i = 0; ok && i < keys.count; i++) ok = !strcmp(keys.items[i], s->keys[i]);
        if (!ok) {
            snprintf(why, why_len, "step %d: %d keys, first %s", si, keys.count, keys.count ? keys.items[0] : "-");
            return why;
        }
    } else if (!strcmp(s->op, "family_metrics")) {
        circuit_family_metrics_snapshot m;
        circuit_status st = circuit_family_metrics(f, &m);
        for (int i = 0; i < s->n_metrics; i++) {
            const char *field = s->metrics[i].key;
            double actual = !strcmp(field, "evicted") ? (double)m.evicted
                          : !strcmp(field, "overflowed") ? (double)m.overflowed
                          : !strcmp(field, "members") ? (double)m.members : -1;
            if (st != CIRCUIT_OK || actual != s->metrics[i].value) {
                snprintf(why, why_len, "step %d: family metrics.%s is %g", si, field, actual);
                return why;
            }
        }
    } else if (!strcmp(s->op, "family_events")) {
        int ok = flog->count == s->n_events;
        for (int i = 0; ok && i < s->n_events; i++) {
            const circuit_transition *t = &flog->items[i];
            const ev *e = &s->events[i];
            ok = (e->key ? !flog->overflow[i] && !strcmp(flog->keys[i], e->key) : flog->overflow[i]) &&
                 !strcmp(circuit_state_name(t->from), e->from) && !strcmp(circuit_state_name(t->to), e->to) &&
                 !strcmp(circuit_reason_name(t->reason), e->reason) && near(e->at_ms, (double)t->at_ns / 1e6);
        }
        if (!ok) {
            snprintf(why, why_len, "step %d: %d family events, first on %s", si, flog->count, flog->count ? flog->keys[0] : "-");
            flog->count = 0;
            return why;
        }
        flog->count = 0;
    } else {
        *handled = 0;
    }
    return NULL;
}

typedef struct {
    const ev *want;
    int n_want;
    int seen;
    int matched;
} transition_check;

static void check_transition(void *userdata, circuit_breaker_state from, circuit_breaker_state to, circuit_reason reason, uint64_t count) {
    transition_check *c = (transition_check *)userdata;
    c->seen++;
    for (int i = 0; i < c->n_want; i++) {
        const ev *e = &c->want[i];
        if (!strcmp(circuit_state_name(from), e->from) && !strcmp(circuit_state_name(to), e->to) &&
            !strcmp(circuit_reason_name(reason), e->reason) && (double)count == e->count) {
            c->matched++;
        }
    }
}

/* A library text (Prometheus exposition or state document) in a malloc'd buffer, grown until it
 * fits (the text changes from call to call). NULL on an error status. */
static char *library_text(circuit_breaker b, circuit_family f, int export_doc, int64_t wall_ns, size_t *out_len) {
    size_t len = 64, needed = 0;
    for (int attempt = 0; attempt < 8; attempt++) {
        char *buffer = malloc(len);
        if (!buffer) return NULL;
        circuit_status st = export_doc ? circuit_export(b, wall_ns, buffer, len, &needed)
                                       : circuit_prometheus_render(&b, 1, f ? &f : NULL, f ? 1 : 0, buffer, len, &needed);
        if (st != CIRCUIT_OK) {
            free(buffer);
            return NULL;
        }
        if (needed < len) {
            *out_len = needed;
            return buffer;
        }
        free(buffer);
        len = needed + 64;
    }
    return NULL;
}

static int64_t wall_ns(const step *s) { return s->has_wall ? (int64_t)llround(s->wall_unix_ms * 1e6) : CIRCUIT_WALL_NOW; }

/* The observability and state ops; NULL when the step passes. `*b` may be replaced by `import`. */
static const char *state_step(const step *s, int si, circuit_breaker *b, circuit_family f, const circuit_config *config,
                              event_log *log, char *why, size_t why_len, int *handled) {
    *handled = 1;
    if (!strcmp(s->op, "transitions")) {
        transition_check c = {s->events, s->n_events, 0, 0};
        circuit_status st = circuit_transitions(*b, check_transition, &c);
        if (st != CIRCUIT_OK || c.seen != s->n_events || c.matched != s->n_events) {
            snprintf(why, why_len, "step %d: %d transition counts, %d as expected (%s)", si, c.seen, c.matched, circuit_status_name(st));
            return why;
        }
    } else if (!strcmp(s->op, "prometheus") || !strcmp(s->op, "export")) {
        int export_doc = !strcmp(s->op, "export");
        size_t len = 0;
        char *text = library_text(*b, f, export_doc, wall_ns(s), &len);
        int ok = text && len == strlen(s->expect_text) && !memcmp(text, s->expect_text, len);
        if (!ok) {
            snprintf(why, why_len, "step %d: %s differs from the golden file: %.300s", si, s->op, text ? text : "(error)");
        }
        free(text);
        if (!ok) return why;
    } else if (!strcmp(s->op, "import")) {
        circuit_metrics_snapshot m;
        circuit_metrics(*b, &m);
        circuit_breaker target = *b;
        int fresh = !(s->has_expect_error_field && m.admitted > 0);
        if (fresh) {
            if (circuit_create(config, &target) != CIRCUIT_OK) {
                snprintf(why, why_len, "step %d: create failed", si);
                return why;
            }
            circuit_on_transition(target, on_transition, log, NULL);
        }
        circuit_status st = circuit_restore(target, s->document, strlen(s->document), wall_ns(s));
        char field[64] = "";
        char message[512] = "";
        int has_field = st != CIRCUIT_OK && circuit_last_error_field(field, sizeof field, NULL);
        if (st != CIRCUIT_OK) circuit_last_error_message(message, sizeof message);
        const char *problem = NULL;
        if (!s->has_expect_error_field && st != CIRCUIT_OK) problem = "refused";
        else if (s->has_expect_error_field && st == CIRCUIT_OK) problem = "accepted";
        else if (s->has_expect_error_field && st != CIRCUIT_ERR_INVALID_STATE) problem = "wrong status";
        else if (s->has_expect_error_field && (s->expect_error_field ? !has_field || strcmp(field, s->expect_error_field) : has_field))
            problem = "refused naming another field";
        if (problem) {
            snprintf(why, why_len, "step %d: import %s (%s, field %s): %s", si, problem, circuit_status_name(st), has_field ? field : "none", message);
            if (fresh) circuit_destroy(target);
            return why;
        }
        if (fresh && st == CIRCUIT_OK) {
            circuit_destroy(*b);
            *b = target;
        } else if (fresh) {
            circuit_destroy(target); /* refused: creates nothing */
        }
    } else {
        *handled = 0;
    }
    return NULL;
}

/* Returns NULL when the vector passes, else a description of the first mismatch. */
static const char *run_vector(const vector *v, char *why, size_t why_len) {
    circuit_clock clock = 0;
    circuit_breaker b = 0;
    circuit_family f = 0;
    const char *names[MAX_PERMITS];
    circuit_permit permits[MAX_PERMITS];
    int n_permits = 0;
    event_log *log = calloc(1, sizeof *log);
    family_log *flog = calloc(1, sizeof *flog);
    const char *result = NULL;
    circuit_config *config = circuit_config_new();

    circuit_clock_manual_new(&clock);
    circuit_config_set_manual_clock(config, clock);
    for (int i = 0; i < v->n_config; i++) {
        if (apply_option(config, &v->config[i]) != CIRCUIT_OK) {
            snprintf(why, why_len, "option %s refused by its setter", v->config[i].key);
            result = why;
            goto done;
        }
    }
    circuit_status created = circuit_create(config, &b);
    if (v->invalid_option) {
        char message[512];
        circuit_last_error_message(message, sizeof message);
        if (created != CIRCUIT_ERR_INVALID_CONFIG || b != 0 || !strstr(message, v->invalid_option)) {
            snprintf(why, why_len, "expected invalid config naming %s, got %s: %s", v->invalid_option,
                     circuit_status_name(created), message);
            result = why;
        }
        goto done;
    }
    if (created != CIRCUIT_OK) {
        snprintf(why, why_len, "create failed: %s", circuit_status_name(created));
        result = why;
        goto done;
    }
    circuit_on_transition(b, on_transition, log, NULL);
    if (v->has_family) {
        /* The family's own name, if it has one, on a copy of the options (config builds fresh
         * breakers for `import`). */
        circuit_config *family_config = circuit_config_new();
        circuit_config_set_manual_clock(family_config, clock);
        for (int i = 0; i < v->n_config; i++) apply_option(family_config, &v->config[i]);
        if (v->family_name) circuit_config_set_name(family_config, v->family_name);
        circuit_status st = circuit_family_create(family_config, (uint32_t)v->max_keys, ms_to_ns(v->idle_ttl_ms), &f);
        circuit_config_free(family_config);
        if (st == CIRCUIT_OK) st = circuit_family_on_transition(f, on_family_transition, flog, NULL);
        if (st != CIRCUIT_OK) {
            snprintf(why, why_len, "family create failed: %s", circuit_status_name(st));
            result = why;
            goto done;
        }
    }

    for (int si = 0; si < v->n_steps && !result; si++) {
        const step *s = &v->steps[si];
        int handled = 0;
        result = http_step(s, si, b, why, why_len, &handled);
        if (handled) continue;
        result = family_step(s, si, f, flog, why, why_len, &handled);
        if (handled) continue;
        result = state_step(s, si, &b, f, config, log, why, why_len, &handled);
        if (handled) continue;
        int on_family = !strcmp(s->op, "family_allow");
        if (on_family && !f) {
            snprintf(why, why_len, "step %d: family_allow in a vector without a family", si);
            result = why;
        } else if (on_family || !strcmp(s->op, "allow")) {
            circuit_permit p;
            uint64_t retry = 0;
            const char *key = s->key ? s->key : "";
            circuit_status st = on_family ? circuit_family_allow(f, key, strlen(key), &p, &retry) : circuit_allow(b, &p, &retry);
            if (s->expect && !strcmp(s->expect, "rejected")) {
                const char *reason = reject_reason(st);
                if (!reason || (s->reason && strcmp(reason, s->reason))) {
                    snprintf(why, why_len, "step %d: expected rejection %s, got %s", si, s->reason ? s->reason : "", circuit_status_name(st));
                    result = why;
                } else if (s->has_retry) {
                    int ok = s->retry_null ? retry == CIRCUIT_NO_TIME : (retry != CIRCUIT_NO_TIME && near(s->retry_ms, (double)retry / 1e6));
                    if (!ok) {
                        snprintf(why, why_len, "step %d: retry_after %llu ns", si, (unsigned long long)retry);
                        result = why;
                    }
                }
            } else if (st != CIRCUIT_OK) {
                snprintf(why, why_len, "step %d: expected admission, got %s", si, circuit_status_name(st));
                result = why;
            } else if (s->has_probe && s->probe != ((p.flags & CIRCUIT_PERMIT_PROBE) != 0)) {
                snprintf(why, why_len, "step %d: probe flag %u", si, p.flags);
                result = why;
            } else if (s->permit && n_permits < MAX_PERMITS) {
                names[n_permits] = s->permit;
                permits[n_permits++] = p;
            } else {
                circuit_record_ignored(p.breaker, &p);
            }
        } else if (!strcmp(s->op, "record")) {
            int index = -1;
            for (int i = 0; i < n_permits; i++) {
                if (names[i] && !strcmp(names[i], s->permit)) index = i;
            }
            if (index < 0) {
                snprintf(why, why_len, "step %d: no permit %s", si, s->permit);
                result = why;
                break;
            }
            /* A family permit records on the member handle it carries (and releases it). */
            const char *got = status_word(record(permits[index].breaker, &permits[index], s->outcome));
            if (strcmp(got, s->expect)) {
                snprintf(why, why_len, "step %d: record %s gave %s, expected %s", si, s->permit, got, s->expect);
                result = why;
            }
            if (s->drop) names[index] = NULL;
        } else if (!strcmp(s->op, "call")) {
            for (long r = 0; r < s->repeat && !result; r++) {
                circuit_permit p;
                circuit_status st = circuit_allow(b, &p, NULL);
                if (st != CIRCUIT_OK) {
                    snprintf(why, why_len, "step %d: call rejected: %s", si, circuit_status_name(st));
                    result = why;
                    break;
                }
                circuit_clock_manual_advance(clock, ms_to_ns(s->duration_ms), NULL);
                st = record(b, &p, s->outcome);
                if (st != CIRCUIT_OK) {
                    snprintf(why, why_len, "step %d: call recorded as %s", si, circuit_status_name(st));
                    result = why;
                }
            }
        } else if (!strcmp(s->op, "advance")) {
            circuit_clock_manual_advance(clock, ms_to_ns(s->ms), NULL);
        } else if (!strcmp(s->op, "state")) {
            circuit_breaker_state state;
            circuit_state(b, &state);
            if (strcmp(circuit_state_name(state), s->expect)) {
                snprintf(why, why_len, "step %d: state %s, expected %s", si, circuit_state_name(state), s->expect);
                result = why;
            }
        } else if (!strcmp(s->op, "metrics")) {
            circuit_metrics_snapshot m;
            circuit_metrics(b, &m);
            for (int i = 0; i < s->n_metrics && !result; i++) {
                int is_null;
                const char *text;
                double actual = metric(&m, s->metrics[i].key, &is_null, &text);
                int ok;
                if (is_null < 0) ok = 0;
                else if (text) ok = s->metrics[i].text && !strcmp(text, s->metrics[i].text);
                else if (s->metrics[i].is_null) ok = is_null;
                else ok = !is_null && near(s->metrics[i].value, actual);
                if (!ok) {
                    snprintf(why, why_len, "step %d: metrics.%s is %g%s", si, s->metrics[i].key, actual, is_null ? " (null)" : "");
                    result = why;
                }
            }
        } else if (!strcmp(s->op, "reset")) {
            circuit_reset(b);
        } else if (!strcmp(s->op, "force_open")) {
            circuit_force_open(b);
        } else if (!strcmp(s->op, "disable")) {
            circuit_disable(b);
        } else if (!strcmp(s->op, "events")) {
            int ok = log->count == s->n_events;
            for (int i = 0; ok && i < s->n_events; i++) {
                const circuit_transition *t = &log->items[i];
                ok = !strcmp(circuit_state_name(t->from), s->events[i].from) && !strcmp(circuit_state_name(t->to), s->events[i].to) &&
                     !strcmp(circuit_reason_name(t->reason), s->events[i].reason) && near(s->events[i].at_ms, (double)t->at_ns / 1e6);
            }
            if (!ok) {
                snprintf(why, why_len, "step %d: %d events, first %s->%s", si, log->count,
                         log->count ? circuit_state_name(log->items[0].from) : "-", log->count ? circuit_state_name(log->items[0].to) : "-");
                result = why;
            }
            log->count = 0;
        } else {
            snprintf(why, why_len, "step %d: unknown op %s", si, s->op);
            result = why;
        }
    }

done:
    for (int i = 0; i < n_permits; i++) {
        /* Unrecorded family permits pin their member: abandon them as the docs say. */
        if ((permits[i].flags & CIRCUIT_PERMIT_MEMBER) && !(permits[i].flags & CIRCUIT_PERMIT_SPENT)) {
            circuit_record_ignored(permits[i].breaker, &permits[i]);
        }
    }
    if (f) circuit_family_destroy(f);
    if (b) circuit_destroy(b);
    circuit_clock_destroy(clock);
    circuit_config_free(config);
    free(log);
    free(flog);
    return result;
}

int main(void) {
    char why[512];
    for (int i = 0; i < conformance_vector_count; i++) {
        const char *failure = run_vector(&conformance_vectors[i], why, sizeof why);
        CHECK(failure == NULL, "%s%s%s", conformance_vectors[i].name, failure ? ": " : "", failure ? failure : "");
    }
    CHECK(conformance_vector_count >= 40, "at least 40 vectors (%d)", conformance_vector_count);
    int http = 0, family = 0;
    for (int i = 0; i < conformance_vector_count; i++) {
        http += !strncmp(conformance_vectors[i].name, "http/", 5);
        family += conformance_vectors[i].has_family;
    }
    CHECK(http >= 10 && family >= 10, "the HTTP (%d) and family (%d) vectors are in the table", http, family);
    int observability = 0, state = 0;
    for (int i = 0; i < conformance_vector_count; i++) {
        observability += !strncmp(conformance_vectors[i].name, "observability/", 14);
        state += !strncmp(conformance_vectors[i].name, "state/", 6);
    }
    CHECK(observability >= 1 && state >= 6, "the observability (%d) and state (%d) vectors are in the table", observability, state);
    return tap_done();
}
