/* Host-shared breakers: two processes share one breaker through a region. A worker process trips
 * it; the parent sees it open. Shown in docs/c-api.md ("Host-shared breakers"), compiled and run
 * by `make test-c` (tests/c/run). Build: cc example_region.c $(pkg-config --cflags --libs circuit) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "circuit.h"

/* The breaker "payments" of the region at `path`: the same breaker in every process doing this. */
static circuit_breaker payments(const char *path) {
    char message[512];
    circuit_region region;
    if (circuit_region_open(path, 64, &region) != CIRCUIT_OK) { /* created (mode 0600) if missing */
        circuit_last_error_message(message, sizeof message);
        fprintf(stderr, "%s\n", message);
        exit(1);
    }
    circuit_config *config = circuit_config_new();
    circuit_config_set_name(config, "payments"); /* processes share a breaker by name */
    circuit_config_set_failure_threshold(config, 2);
    circuit_config_set_region(config, region);
    circuit_breaker breaker;
    circuit_status status = circuit_create(config, &breaker);
    circuit_config_free(config);
    circuit_region_close(region); /* the breaker keeps working */
    if (status != CIRCUIT_OK) {   /* CIRCUIT_ERR_REGION: e.g. other options, each one named */
        circuit_last_error_message(message, sizeof message);
        fprintf(stderr, "%s\n", message);
        exit(1);
    }
    return breaker;
}

int main(void) {
    char dir[] = "/tmp/circuit-example-XXXXXX", path[64];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/my-service.circuit", dir); /* typically /dev/shm/NAME */
    circuit_breaker mine = payments(path);

    fflush(stdout);
    pid_t worker = fork();
    if (worker == 0) { /* another process: two failed calls */
        circuit_breaker theirs = payments(path);
        for (int i = 0; i < 2; i++) {
            circuit_permit permit;
            if (circuit_allow(theirs, &permit, NULL) == CIRCUIT_OK) circuit_record_failure(theirs, &permit);
        }
        circuit_destroy(theirs);
        _exit(0);
    }
    waitpid(worker, NULL, 0);

    circuit_breaker_state state;
    circuit_state(mine, &state);
    circuit_metrics_snapshot totals;     /* region-wide */
    circuit_process_counts_snapshot own; /* this process's */
    circuit_metrics(mine, &totals);
    circuit_process_counts(mine, &own);
    printf("state %s; failures: %llu in the region, %llu here\n", circuit_state_name(state),
           (unsigned long long)totals.failures, (unsigned long long)own.failures);

    circuit_destroy(mine);
    unlink(path);
    rmdir(dir);
    return state == CIRCUIT_STATE_OPEN && totals.failures == 2 && own.failures == 0 ? 0 : 1;
}
