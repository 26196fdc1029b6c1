/* Data model of the generated conformance table (scripts/gen-c-vectors). */
#ifndef CIRCUIT_TEST_CONFORMANCE_H
#define CIRCUIT_TEST_CONFORMANCE_H

#include <stddef.h>

typedef struct {
    const char *key;
    double value;
    int is_null;
    const char *text;
} kv;

typedef struct {
    const char *from;
    const char *to;
    const char *reason;
    double at_ms;
    const char *key; /* family_events: the member's key, NULL for the overflow breaker */
    double count;    /* transitions: the lifetime count */
} ev;

typedef struct {
    const char *op;
    const char *permit;
    const char *expect;
    const char *reason;
    const char *outcome;
    int has_retry;
    int retry_null;
    double retry_ms;
    int has_probe;
    int probe;
    double ms;
    long repeat;
    double duration_ms;
    const kv *metrics;
    int n_metrics;
    const ev *events; /* events, family_events, transitions */
    int n_events;
    /* HTTP ops (08_http.json) */
    long status;             /* 0 when the step has `error` instead */
    const char *error;       /* connect, timeout, cancelled, other */
    const char *retry_after; /* the header value (has_retry_after) */
    int has_retry_after;
    double now_unix_s;
    int has_expect_retry;    /* expect_retry_after_ms present */
    int expect_retry_null;
    double expect_retry_ms;
    /* family ops (09_family.json); family_metrics' expectations are in `metrics` */
    const char *key;
    const char *expect_name;
    const char *expect_state;
    int has_expect_value;    /* `expect` is a number (family_len) or a bool (family_contains) */
    double expect_value;
    const char *const *keys; /* family_keys: the expected keys, sorted */
    int n_keys;
    int drop;
    /* observability and state ops (10_observability.json, 11_state.json) */
    const char *expect_text;  /* prometheus: the golden file; export: its compact, key-sorted JSON */
    int has_wall;             /* wall_unix_ms present */
    double wall_unix_ms;
    const char *document;     /* import: the document, `replace` applied */
    int has_expect_error_field;
    const char *expect_error_field; /* NULL: a document-level error */
} step;

typedef struct {
    const char *name;
    const char *invalid_option;
    const kv *config;
    int n_config;
    const step *steps;
    int n_steps;
    int has_family; /* a "family" object: max_keys, idle_ttl_ms */
    long max_keys;
    double idle_ttl_ms;
    const char *family_name; /* the family object's own name, NULL to use config's */
} vector;

extern const vector conformance_vectors[];
extern const int conformance_vector_count;

#endif
