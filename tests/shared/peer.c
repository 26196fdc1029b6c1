/* The C peer of tests/shared/run: one breaker of a manual-clock host region, driven by the
 * command protocol described in tests/shared/driver.py (one command a line on stdin, one JSON line on
 * stdout per command). Built by tests/shared/run with gcc -Wall -Wextra -Werror against
 * target/dist. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit.h"

#define CAPACITY 16
#define MAX_EVENTS 64

static circuit_region region;
static circuit_breaker breaker;
static bool attached;

static circuit_transition events[MAX_EVENTS];
static size_t event_count;

static void on_transition(void *userdata, circuit_breaker b, const circuit_transition *t) {
    (void)userdata;
    (void)b;
    if (event_count < MAX_EVENTS) events[event_count++] = *t;
}

/* Prints `s` as a JSON string. */
static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            putchar('\\');
            putchar(*p);
        } else if (*p < 0x20) {
            printf("\\u%04x", *p);
        } else {
            putchar(*p);
        }
    }
    putchar('"');
}

static void reply_error(const char *what, circuit_status status) {
    char message[1024];
    circuit_last_error_message(message, sizeof message);
    printf("{\"ok\":false,\"what\":");
    json_string(what);
    printf(",\"status\":");
    json_string(circuit_status_name(status));
    printf(",\"error\":");
    json_string(message);
    printf("}\n");
}

static void reply_plain_error(const char *message) {
    printf("{\"ok\":false,\"error\":");
    json_string(message);
    printf("}\n");
}

/* The fields every operation reply carries: the breaker's state and counts (region-wide). */
static bool print_metrics_fields(void) {
    circuit_metrics_snapshot m;
    circuit_status status = circuit_metrics(breaker, &m);
    if (status != CIRCUIT_OK) return false;
    printf("\"metrics\":{\"state\":\"%s\",\"generation\":%" PRIu64 ",\"consecutive_failures\":%" PRIu64
           ",\"admitted\":%" PRIu64 ",\"failures\":%" PRIu64 ",\"successes\":%" PRIu64
           ",\"rejected\":%" PRIu64 "}",
           circuit_state_name(m.state), m.generation, m.consecutive_failures, m.admitted, m.failures,
           m.successes, m.rejected);
    return true;
}

static void cmd_attach(const char *path, uint32_t failure_threshold) {
    circuit_status status = circuit_region_open_manual(path, CAPACITY, &region);
    if (status != CIRCUIT_OK) {
        reply_error("circuit_region_open_manual", status);
        return;
    }
    circuit_config *config = circuit_config_new();
    circuit_config_set_name(config, "shared");
    circuit_config_set_failure_threshold(config, failure_threshold);
    circuit_config_set_reset_timeout_ns(config, UINT64_C(10000000000));
    circuit_config_set_half_open_max_calls(config, 1);
    circuit_config_set_success_threshold(config, 1);
    circuit_config_set_region(config, region);
    status = circuit_create(config, &breaker);
    circuit_config_free(config);
    if (status != CIRCUIT_OK) {
        reply_error("circuit_create", status);
        circuit_region_close(region);
        return;
    }
    status = circuit_on_transition(breaker, on_transition, NULL, NULL);
    if (status != CIRCUIT_OK) {
        reply_error("circuit_on_transition", status);
        return;
    }
    bool shared = false;
    circuit_is_shared(breaker, &shared);
    attached = true;
    printf("{\"ok\":true,\"shared\":%s}\n", shared ? "true" : "false");
}

/* allow, then record `outcome` ('f' failure, 's' success, 'i' ignored) if admitted. */
static void cmd_call(char outcome) {
    circuit_permit permit;
    uint64_t retry_after = 0;
    circuit_status status = circuit_allow(breaker, &permit, &retry_after);
    if (status != CIRCUIT_OK) {
        const char *reason = status == CIRCUIT_REJECTED_OPEN             ? "open"
                             : status == CIRCUIT_REJECTED_HALF_OPEN_FULL ? "half_open_full"
                             : status == CIRCUIT_REJECTED_FORCED_OPEN    ? "forced_open"
                                                                         : NULL;
        if (!reason) {
            reply_error("circuit_allow", status);
            return;
        }
        printf("{\"ok\":true,\"admitted\":false,\"reason\":\"%s\",", reason);
        print_metrics_fields();
        printf("}\n");
        return;
    }
    bool probe = (permit.flags & CIRCUIT_PERMIT_PROBE) != 0;
    switch (outcome) {
    case 'f': status = circuit_record_failure(breaker, &permit); break;
    case 's': status = circuit_record_success(breaker, &permit); break;
    default: status = circuit_record_ignored(breaker, &permit); break;
    }
    if (status != CIRCUIT_OK && status != CIRCUIT_STALE) {
        reply_error("circuit_record", status);
        return;
    }
    printf("{\"ok\":true,\"admitted\":true,\"probe\":%s,\"counted\":%s,", probe ? "true" : "false",
           status == CIRCUIT_OK ? "true" : "false");
    print_metrics_fields();
    printf("}\n");
}

static void cmd_state(void) {
    circuit_breaker_state state;
    circuit_status status = circuit_state(breaker, &state);
    if (status != CIRCUIT_OK) {
        reply_error("circuit_state", status);
        return;
    }
    circuit_metrics_snapshot m;
    circuit_metrics(breaker, &m);
    printf("{\"ok\":true,\"state\":\"%s\",\"generation\":%" PRIu64 "}\n", circuit_state_name(state),
           m.generation);
}

static void cmd_metrics(void) {
    printf("{\"ok\":true,");
    if (!print_metrics_fields()) {
        printf("\"error\":\"circuit_metrics failed\"");
    }
    printf("}\n");
}

static void cmd_events(void) {
    printf("{\"ok\":true,\"events\":[");
    for (size_t i = 0; i < event_count; i++) {
        const circuit_transition *t = &events[i];
        printf("%s{\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\",\"generation\":%" PRIu64
               ",\"at_ms\":%.3f,\"remote\":%s}",
               i ? "," : "", circuit_state_name(t->from), circuit_state_name(t->to),
               circuit_reason_name(t->reason), t->generation, (double)t->at_ns / 1e6,
               t->remote ? "true" : "false");
    }
    printf("]}\n");
}

int main(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *command = strtok(line, " ");
        char *arg = strtok(NULL, " ");
        char *arg2 = strtok(NULL, " ");
        if (!command) continue;
        if (strcmp(command, "attach") == 0) {
            if (!arg) {
                reply_plain_error("attach needs a path");
            } else if (attached) {
                reply_plain_error("already attached");
            } else {
                cmd_attach(arg, arg2 ? (uint32_t)strtoul(arg2, NULL, 10) : 4);
            }
        } else if (strcmp(command, "advance") == 0) {
            uint64_t ms = arg ? strtoull(arg, NULL, 10) : 0;
            circuit_status status = circuit_region_advance(region, ms * UINT64_C(1000000));
            if (status != CIRCUIT_OK) {
                reply_error("circuit_region_advance", status);
            } else {
                printf("{\"ok\":true}\n");
            }
        } else if (!attached) {
            reply_plain_error("not attached");
        } else if (strcmp(command, "fail") == 0) {
            cmd_call('f');
        } else if (strcmp(command, "success") == 0) {
            cmd_call('s');
        } else if (strcmp(command, "allow") == 0) {
            cmd_call('i');
        } else if (strcmp(command, "state") == 0) {
            cmd_state();
        } else if (strcmp(command, "metrics") == 0) {
            cmd_metrics();
        } else if (strcmp(command, "events") == 0) {
            cmd_events();
        } else {
            reply_plain_error("unknown command");
        }
        fflush(stdout);
    }
    if (attached) circuit_destroy(breaker);
    return 0;
}
