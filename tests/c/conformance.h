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
    const ev *events;
    int n_events;
} step;

typedef struct {
    const char *name;
    const char *invalid_option;
    const kv *config;
    int n_config;
    const step *steps;
    int n_steps;
} vector;

extern const vector conformance_vectors[];
extern const int conformance_vector_count;

#endif
