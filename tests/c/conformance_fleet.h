/* Data model of the generated fleet conformance table (scripts/gen-c-fleet-vectors). */
#ifndef CIRCUIT_TEST_CONFORMANCE_FLEET_H
#define CIRCUIT_TEST_CONFORMANCE_FLEET_H

#include <stddef.h>

typedef struct {
    const char *key;
    double value;
    int is_null;
    const char *text; /* a string value, else NULL */
} fleet_kv;

typedef struct {
    const char *op;
    const char *permit;
    const char *expect; /* a text expectation (fleet_allow, state, record), else NULL */
    const char *outcome;
    long repeat;
    double ms;
    int has_retry;
    int retry_null;
    double retry_ms;
    int expect_null;         /* fleet_poll: nothing is due */
    const fleet_kv *fields;  /* fleet_poll, fleet_status, metrics: the expected fields */
    int n_fields;
    int has_verdicts;
    const char *verdicts;    /* "epoch:id:outcome;..." */
    const fleet_kv *reply;   /* fleet_reply: numbers are integer items, texts bulk strings */
    int n_reply;
    int has_events;
    const char *const *events; /* "kind|from|to|epoch|stored" */
    int n_events;
} fleet_step;

typedef struct {
    const char *name;
    const char *invalid_option;
    const fleet_kv *config;
    int n_config;
    const fleet_kv *fleet;
    int n_fleet;
    const fleet_step *steps;
    int n_steps;
} fleet_vector;

extern const fleet_vector fleet_vectors[];
extern const int fleet_vector_count;

#endif
