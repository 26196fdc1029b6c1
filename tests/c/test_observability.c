/* Observability and portable state through the C ABI: the metric families, points and
 * transition counts; the Prometheus text against tests/conformance/golden/observability.prom
 * byte for byte (the scenario of 10_observability.json); buffers too small; state export and
 * restore round trip; hostile documents refused (every truncation too) with the field named. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"
#include "tap.h"

#define MS 1000000ULL
#define WALL (1800000000000LL * 1000000LL) /* 2027-01-15, in ns since the epoch */

static char *read_file(const char *name, size_t *out_len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CIRCUIT_CONFORMANCE_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = calloc(1, (size_t)n + 1);
    size_t got = text ? fread(text, 1, (size_t)n, f) : 0;
    fclose(f);
    *out_len = got;
    return text;
}

static circuit_config *config_named(circuit_clock clock, const char *name, uint32_t threshold, uint64_t reset_ns) {
    circuit_config *c = circuit_config_new();
    circuit_config_set_manual_clock(c, clock);
    circuit_config_set_name(c, name);
    circuit_config_set_failure_threshold(c, threshold);
    circuit_config_set_reset_timeout_ns(c, reset_ns);
    return c;
}

static void call(circuit_breaker b, int outcome) {
    circuit_permit p;
    if (circuit_allow(b, &p, NULL) != CIRCUIT_OK) return;
    if (outcome == 0) circuit_record_success(b, &p);
    else if (outcome == 1) circuit_record_failure(b, &p);
    else circuit_record_ignored(b, &p);
}

static void family_call(circuit_family f, const char *key, int outcome) {
    circuit_breaker m = 0;
    if (circuit_family_get(f, key, strlen(key), &m) != CIRCUIT_OK) return;
    call(m, outcome);
    circuit_destroy(m);
}

/* The scenario of tests/conformance/10_observability.json. */
static void scenario(circuit_clock clock, circuit_breaker b, circuit_family f) {
    circuit_permit early, probe, p;
    call(b, 0);
    circuit_allow(b, &early, NULL);
    call(b, 1);
    call(b, 1);
    circuit_allow(b, &p, NULL);
    circuit_allow(b, &p, NULL);
    circuit_clock_manual_advance(clock, 1000 * MS, NULL);
    circuit_allow(b, &probe, NULL);
    circuit_allow(b, &p, NULL);
    circuit_record_success(b, &probe);
    circuit_force_open(b);
    circuit_allow(b, &p, NULL);
    circuit_reset(b);
    circuit_record_failure(b, &early);
    call(b, 0);
    call(b, 2);
    circuit_clock_manual_advance(clock, 250 * MS, NULL);
    family_call(f, "b", 1);
    family_call(f, "a", 0);
    family_call(f, "a", 0);
}

/* A library text grown until it fits. */
static char *render(circuit_breaker b, circuit_family f, size_t *out_len) {
    size_t needed = 0;
    if (circuit_prometheus_render(b ? &b : NULL, b ? 1 : 0, f ? &f : NULL, f ? 1 : 0, NULL, 0, &needed) != CIRCUIT_OK) return NULL;
    for (;;) {
        size_t len = needed + 1;
        char *text = malloc(len);
        if (circuit_prometheus_render(b ? &b : NULL, b ? 1 : 0, f ? &f : NULL, f ? 1 : 0, text, len, &needed) != CIRCUIT_OK) {
            free(text);
            return NULL;
        }
        if (needed < len) {
            *out_len = needed;
            return text;
        }
        free(text);
    }
}

static char *export_at(circuit_breaker b, int64_t wall, size_t *out_len) {
    size_t needed = 0;
    char *text = NULL;
    for (size_t len = 16;; len = needed + 1) {
        free(text);
        text = malloc(len);
        if (circuit_export(b, wall, text, len, &needed) != CIRCUIT_OK) {
            free(text);
            return NULL;
        }
        if (needed < len) break;
    }
    *out_len = needed;
    return text;
}

typedef struct {
    int points, calls_success, closed, families_ok, labels_ok;
    double calls_total;
    char keys[8][16];
    int n_keys;
} point_stats;

static void on_point(void *userdata, const circuit_metric_point *p) {
    point_stats *s = (point_stats *)userdata;
    s->points++;
    s->labels_ok += p->label_count == p->family->label_count;
    for (size_t i = 0; i < circuit_metric_family_count(); i++) s->families_ok += circuit_metric_family_at(i) == p->family;
    if (!strcmp(p->family->name, "circuit_breaker_calls_total")) {
        s->calls_total += p->value;
        if (!strcmp(p->family->label_names[0], "outcome") && !strcmp(p->label_values[0], "success")) s->calls_success = (int)p->value;
    }
    if (!strcmp(p->family->name, "circuit_breaker_state") && !strcmp(p->label_values[0], "closed")) s->closed = (int)p->value;
}

static void on_member_point(void *userdata, const char *key, size_t key_len, const circuit_metric_point *p) {
    point_stats *s = (point_stats *)userdata;
    if (s->n_keys == 0 || strncmp(s->keys[s->n_keys - 1], key, key_len) || s->keys[s->n_keys - 1][key_len]) {
        if (s->n_keys < 8 && key_len < 16) {
            memcpy(s->keys[s->n_keys], key, key_len);
            s->keys[s->n_keys++][key_len] = 0;
        }
    }
    on_point(userdata, p);
}

typedef struct {
    int count, closed_open;
    uint64_t total;
} transition_stats;

static void on_transition_count(void *userdata, circuit_breaker_state from, circuit_breaker_state to, circuit_reason reason, uint64_t n) {
    transition_stats *t = (transition_stats *)userdata;
    t->count++;
    t->total += n;
    t->closed_open += from == CIRCUIT_STATE_CLOSED && to == CIRCUIT_STATE_OPEN && reason == CIRCUIT_REASON_FAILURE_THRESHOLD;
}

static void test_families_table(void) {
    size_t n = circuit_metric_family_count();
    const circuit_metric_family *calls = circuit_metric_family_at(0);
    CHECK(n == 9 && circuit_metric_family_at(n) == NULL, "%zu metric families, none past the end", n);
    CHECK(calls && !strcmp(calls->name, "circuit_breaker_calls_total") && !strcmp(calls->otel_name, "circuit_breaker.calls") &&
              calls->kind == CIRCUIT_METRIC_COUNTER && calls->label_count == 1 && !strcmp(calls->label_names[0], "outcome") &&
              !strcmp(calls->unit, "1") && strlen(calls->help) > 0,
          "the first family is circuit_breaker_calls_total (circuit_breaker.calls), a counter by outcome");
    int sorted = 1;
    for (size_t i = 1; i < n; i++) sorted &= strcmp(circuit_metric_family_at(i - 1)->name, circuit_metric_family_at(i)->name) < 0;
    CHECK(sorted, "the families are sorted by name");
}

static void test_exposition(void) {
    circuit_clock clock = 0;
    circuit_clock_manual_new(&clock);
    circuit_config *bc = config_named(clock, "payments", 2, 1000 * MS);
    circuit_config *fc = config_named(clock, "api", 2, 1000 * MS);
    circuit_breaker b = 0;
    circuit_family f = 0;
    circuit_create(bc, &b);
    circuit_family_create(fc, 4, 600000 * MS, &f);
    scenario(clock, b, f);

    size_t golden_len = 0, len = 0;
    char *golden = read_file("golden/observability.prom", &golden_len);
    char *text = render(b, f, &len);
    CHECK(golden && text && len == golden_len && !memcmp(text, golden, len),
          "circuit_prometheus_render of the 10_observability scenario equals golden/observability.prom byte for byte");

    /* One breaker, one family. */
    char small[10];
    size_t needed = 0;
    memset(small, 'x', sizeof small);
    circuit_status st = circuit_prometheus_text(b, small, sizeof small, &needed);
    size_t own_len = 0;
    char *own = render(b, 0, &own_len);
    CHECK(st == CIRCUIT_OK && needed == own_len && small[9] == 0 && !memcmp(small, own, 9),
          "a too-small buffer gets a NUL-terminated prefix and the needed length (%zu)", needed);
    char *full = malloc(own_len + 1);
    st = circuit_prometheus_text(b, full, own_len + 1, &needed);
    CHECK(st == CIRCUIT_OK && needed == own_len && !strcmp(full, own) && !strstr(full, "key=") &&
              strstr(full, "circuit_breaker_rejected_calls_total{name=\"payments\",reason=\"open\"} 2\n"),
          "circuit_prometheus_text writes the breaker's samples labelled with its name");
    free(full);
    size_t flen = 0;
    char *ftext = render(0, f, &flen);
    size_t fneeded = 0;
    char *fbuf = malloc(flen + 1);
    st = circuit_family_prometheus_text(f, fbuf, flen + 1, &fneeded);
    CHECK(st == CIRCUIT_OK && fneeded == flen && !strcmp(fbuf, ftext) && !strstr(fbuf, "\"payments\"") &&
              strstr(fbuf, "circuit_breaker_calls_total{key=\"(overflow)\",name=\"api\",outcome=\"failure\"} 0\n") &&
              strstr(fbuf, "{key=\"a\",name=\"api\",outcome=\"success\"} 2\n") < strstr(fbuf, "{key=\"b\",name=\"api\",outcome=\"failure\"} 1\n"),
          "circuit_family_prometheus_text writes the members by key, then the overflow breaker");
    free(fbuf);
    CHECK(circuit_prometheus_text(b, NULL, 0, &needed) == CIRCUIT_OK && needed == own_len, "a NULL buffer of length 0 asks for the length");
    CHECK(circuit_prometheus_text(b, NULL, 5, &needed) == CIRCUIT_ERR_NULL_POINTER, "a NULL buffer with a length is refused");
    circuit_breaker handles[2] = {b, 987654321};
    char message[256];
    st = circuit_prometheus_render(handles, 2, NULL, 0, NULL, 0, &needed);
    circuit_last_error_message(message, sizeof message);
    CHECK(st == CIRCUIT_ERR_INVALID_HANDLE && strstr(message, "circuit_prometheus_render") && strstr(message, "987654321"),
          "a dead handle among the breakers is refused, named: %s", message);
    CHECK(circuit_prometheus_render(NULL, 1, NULL, 0, NULL, 0, &needed) == CIRCUIT_ERR_NULL_POINTER, "NULL breakers with a count are refused");
    CHECK(circuit_family_prometheus_text(424242, NULL, 0, &needed) == CIRCUIT_ERR_INVALID_HANDLE, "a dead family handle is refused");

    /* Points: what exporters build their metrics from. */
    point_stats ps = {0};
    st = circuit_metric_points(b, on_point, &ps);
    CHECK(st == CIRCUIT_OK && ps.points > 15 && ps.families_ok == ps.points && ps.labels_ok == ps.points && ps.calls_total == 6 &&
              ps.calls_success == 3 && ps.closed == 1,
          "circuit_metric_points gives %d points of the static families (calls 6, successes 3, closed 1)", ps.points);
    point_stats fs = {0};
    st = circuit_family_metric_points(f, on_member_point, &fs);
    CHECK(st == CIRCUIT_OK && fs.n_keys == 3 && !strcmp(fs.keys[0], "a") && !strcmp(fs.keys[1], "b") && !strcmp(fs.keys[2], "(overflow)") &&
              fs.calls_total == 3,
          "circuit_family_metric_points visits a, b, then (overflow)");
    CHECK(circuit_metric_points(b, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER && circuit_family_metric_points(f, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER,
          "a NULL point visitor is refused");
    CHECK(circuit_metric_points(987654321, on_point, &ps) == CIRCUIT_ERR_INVALID_HANDLE, "points of a dead handle are refused");

    transition_stats ts = {0};
    st = circuit_transitions(b, on_transition_count, &ts);
    CHECK(st == CIRCUIT_OK && ts.count == 5 && ts.total == 5 && ts.closed_open == 1, "circuit_transitions: 5 kinds, 5 in all");
    CHECK(circuit_transitions(b, NULL, NULL) == CIRCUIT_ERR_NULL_POINTER, "a NULL transition visitor is refused");
    CHECK(circuit_transitions(987654321, on_transition_count, &ts) == CIRCUIT_ERR_INVALID_HANDLE, "transitions of a dead handle are refused");

    free(golden);
    free(text);
    free(own);
    free(ftext);
    circuit_family_destroy(f);
    circuit_destroy(b);
    circuit_config_free(bc);
    circuit_config_free(fc);
    circuit_clock_destroy(clock);
}

static circuit_status restore_text(circuit_breaker b, const char *doc, size_t len, char *field, size_t field_len, bool *has_field) {
    circuit_status st = circuit_restore(b, doc, len, WALL);
    *has_field = st != CIRCUIT_OK && circuit_last_error_field(field, field_len, NULL);
    return st;
}

static void test_state(void) {
    circuit_clock clock = 0;
    circuit_clock_manual_new(&clock);
    circuit_config *config = config_named(clock, "payments", 2, 10000 * MS);
    circuit_breaker a = 0, b = 0;
    circuit_create(config, &a);
    call(a, 0);
    call(a, 1);
    call(a, 1);
    circuit_clock_manual_advance(clock, 3000 * MS, NULL);

    size_t len = 0, needed = 0;
    char *doc = export_at(a, WALL, &len);
    CHECK(doc && strstr(doc, "\"format\":\"circuit-breaker-state\"") && strstr(doc, "\"open_remaining_ms\":7000.0"),
          "circuit_export writes the document (%zu bytes)", len);
    char tiny[8];
    CHECK(circuit_export(a, WALL, tiny, sizeof tiny, &needed) == CIRCUIT_OK && needed == len && tiny[7] == 0,
          "a too-small export buffer reports the needed length");
    CHECK(circuit_export(a, CIRCUIT_WALL_NOW, NULL, 0, &needed) == CIRCUIT_OK && needed > 100, "CIRCUIT_WALL_NOW exports at the system time");
    CHECK(circuit_export(a, WALL, NULL, 3, &needed) == CIRCUIT_ERR_NULL_POINTER, "a NULL export buffer with a length is refused");
    CHECK(circuit_export(987654321, WALL, tiny, sizeof tiny, &needed) == CIRCUIT_ERR_INVALID_HANDLE, "export of a dead handle is refused");

    /* Hostile documents, on a breaker not used yet: every one is refused and changes nothing. */
    circuit_create(config, &b);
    char field[64];
    bool has_field = false;
    char message[512];
    int refused = 1;
    for (size_t cut = 0; cut < len; cut++) {
        circuit_status st = restore_text(b, doc, cut, field, sizeof field, &has_field);
        refused &= st == CIRCUIT_ERR_INVALID_STATE;
    }
    CHECK(refused, "every truncation of the document (%zu of them) is refused with CIRCUIT_ERR_INVALID_STATE", len);
    circuit_status st = restore_text(b, "{", 1, field, sizeof field, &has_field);
    circuit_last_error_message(message, sizeof message);
    CHECK(st == CIRCUIT_ERR_INVALID_STATE && !has_field && strstr(message, "circuit_restore") && strstr(message, "JSON"),
          "malformed JSON is refused naming no field: %s", message);
    const char *v2 = "{\"format\":\"circuit-breaker-state\",\"version\":2}";
    st = restore_text(b, v2, strlen(v2), field, sizeof field, &has_field);
    circuit_last_error_message(message, sizeof message);
    CHECK(st == CIRCUIT_ERR_INVALID_STATE && has_field && !strcmp(field, "version") && strstr(message, "`version`"),
          "a future version is refused naming `version`: %s", message);
    char *other = malloc(len + 16);
    const char *at = strstr(doc, "\"payments\"");
    snprintf(other, len + 16, "%.*s\"inventory\"%s", (int)(at - doc), doc, at + strlen("\"payments\""));
    st = restore_text(b, other, strlen(other), field, sizeof field, &has_field);
    CHECK(st == CIRCUIT_ERR_INVALID_STATE && has_field && !strcmp(field, "name"), "another breaker's document is refused naming `name`");
    char *huge = malloc(len + 64);
    at = strstr(doc, "\"generation\":1");
    snprintf(huge, len + 64, "%.*s\"generation\":1e300%s", (int)(at - doc), doc, at + strlen("\"generation\":1"));
    st = restore_text(b, huge, strlen(huge), field, sizeof field, &has_field);
    CHECK(st == CIRCUIT_ERR_INVALID_STATE && has_field && !strcmp(field, "generation"), "an out-of-range generation is refused naming it");
    char nul_doc[] = "{\"format\":\"circuit-breaker-state\"\0}";
    CHECK(restore_text(b, nul_doc, sizeof nul_doc - 1, field, sizeof field, &has_field) == CIRCUIT_ERR_INVALID_STATE, "an embedded NUL is refused");
    const char bad_utf8[] = {'{', '"', (char)0xff, '"', '}'};
    CHECK(circuit_restore(b, bad_utf8, sizeof bad_utf8, WALL) == CIRCUIT_ERR_INVALID_ARGUMENT, "a non-UTF-8 document is refused");
    CHECK(circuit_restore(b, NULL, 5, WALL) == CIRCUIT_ERR_NULL_POINTER, "a NULL document with a length is refused");
    CHECK(circuit_restore(987654321, doc, len, WALL) == CIRCUIT_ERR_INVALID_HANDLE, "restore into a dead handle is refused");
    CHECK(!circuit_last_error_field(field, sizeof field, NULL), "an error that is not a document's names no field");
    circuit_metrics_snapshot m;
    circuit_metrics(b, &m);
    CHECK(m.state == CIRCUIT_STATE_CLOSED && m.generation == 0 && m.admitted == 0 && m.failures == 0,
          "after the refusals the breaker is untouched");

    /* The round trip: 1 s after the export, the opening has 6 s left. */
    st = circuit_restore(b, doc, len, WALL + 1000 * (int64_t)MS);
    circuit_metrics(b, &m);
    CHECK(st == CIRCUIT_OK && m.state == CIRCUIT_STATE_OPEN && m.generation == 1 && m.failures == 2 && m.successes == 1 &&
              m.opened == 1 && m.retry_after_ns == 6000 * MS,
          "restore round trip: open, generation 1, 2 failures, retry after %llu ns", (unsigned long long)m.retry_after_ns);
    size_t len2 = 0;
    char *again = export_at(b, WALL + 1000 * (int64_t)MS, &len2);
    CHECK(again && strstr(again, "\"open_remaining_ms\":6000.0"), "the restored breaker exports the remaining time");
    st = restore_text(a, doc, len, field, sizeof field, &has_field);
    CHECK(st == CIRCUIT_ERR_INVALID_STATE && has_field && !strcmp(field, "state"), "a used breaker refuses a document, naming `state`");

    free(doc);
    free(other);
    free(huge);
    free(again);
    circuit_destroy(a);
    circuit_destroy(b);
    circuit_config_free(config);
    circuit_clock_destroy(clock);
}

int main(void) {
    test_families_table();
    test_exposition();
    test_state();
    CHECK(!strcmp(circuit_status_name(CIRCUIT_ERR_INVALID_STATE), "CIRCUIT_ERR_INVALID_STATE"), "the new status has a name");
    return tap_done();
}
