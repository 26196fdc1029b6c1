/* Runs every conformance vector (the JSON files in tests/conformance, turned into a C table by
 * scripts/gen-c-vectors) through the public C ABI. */
#include <math.h>
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

static const char *reject_reason(circuit_status s) {
    switch (s) {
        case CIRCUIT_REJECTED_OPEN: return "open";
        case CIRCUIT_REJECTED_HALF_OPEN_FULL: return "half_open_full";
        case CIRCUIT_REJECTED_FORCED_OPEN: return "forced_open";
        default: return NULL;
    }
}

/* Returns NULL when the vector passes, else a description of the first mismatch. */
static const char *run_vector(const vector *v, char *why, size_t why_len) {
    circuit_clock clock = 0;
    circuit_breaker b = 0;
    const char *names[MAX_PERMITS];
    circuit_permit permits[MAX_PERMITS];
    int n_permits = 0;
    event_log *log = calloc(1, sizeof *log);
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

    for (int si = 0; si < v->n_steps && !result; si++) {
        const step *s = &v->steps[si];
        if (!strcmp(s->op, "allow")) {
            circuit_permit p;
            uint64_t retry = 0;
            circuit_status st = circuit_allow(b, &p, &retry);
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
                circuit_record_ignored(b, &p);
            }
        } else if (!strcmp(s->op, "record")) {
            int index = -1;
            for (int i = 0; i < n_permits; i++) {
                if (!strcmp(names[i], s->permit)) index = i;
            }
            if (index < 0) {
                snprintf(why, why_len, "step %d: no permit %s", si, s->permit);
                result = why;
                break;
            }
            const char *got = status_word(record(b, &permits[index], s->outcome));
            if (strcmp(got, s->expect)) {
                snprintf(why, why_len, "step %d: record %s gave %s, expected %s", si, s->permit, got, s->expect);
                result = why;
            }
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
    if (b) circuit_destroy(b);
    circuit_clock_destroy(clock);
    circuit_config_free(config);
    free(log);
    return result;
}

int main(void) {
    char why[512];
    for (int i = 0; i < conformance_vector_count; i++) {
        const char *failure = run_vector(&conformance_vectors[i], why, sizeof why);
        CHECK(failure == NULL, "%s%s%s", conformance_vectors[i].name, failure ? ": " : "", failure ? failure : "");
    }
    CHECK(conformance_vector_count >= 40, "at least 40 vectors (%d)", conformance_vector_count);
    return tap_done();
}
