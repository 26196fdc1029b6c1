/* libcircuit.so loaded at run time with dlopen (as an interpreter's FFI does): the library keeps
 * its per-thread breaker cache in initial-exec TLS (STATIC_TLS), which a dlopen must be able to
 * place; then calls work on the loading thread and on a thread started afterwards, and destroyed
 * handles are refused. Run by tests/c/run with the path of libcircuit.so as argument. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "circuit.h"
#include "tap.h"

typedef circuit_config *(*config_new_fn)(void);
typedef void (*config_free_fn)(circuit_config *);
typedef circuit_status (*create_fn)(const circuit_config *, circuit_breaker *);
typedef circuit_status (*destroy_fn)(circuit_breaker);
typedef circuit_status (*allow_fn)(circuit_breaker, circuit_permit *, uint64_t *);
typedef circuit_status (*record_fn)(circuit_breaker, circuit_permit *);

static allow_fn allow;
static record_fn record_success;

/* Pairs on `b` from the calling thread: how many were admitted and counted. */
static long pairs(circuit_breaker b, long n) {
    long counted = 0;
    for (long i = 0; i < n; i++) {
        circuit_permit p;
        if (allow(b, &p, NULL) == CIRCUIT_OK && record_success(b, &p) == CIRCUIT_OK) counted++;
    }
    return counted;
}

static void *worker(void *arg) {
    static long counted;
    counted = pairs(*(circuit_breaker *)arg, 1000);
    return &counted;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_dlopen PATH/libcircuit.so\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    CHECK(lib != NULL, "dlopen(libcircuit.so) succeeds (%s)", lib ? "loaded" : dlerror());
    if (!lib) return tap_done();
    /* Function pointers from dlsym (POSIX guarantees the object-to-function conversion). */
    config_new_fn config_new;
    config_free_fn config_free;
    create_fn create;
    destroy_fn destroy;
    *(void **)&config_new = dlsym(lib, "circuit_config_new");
    *(void **)&config_free = dlsym(lib, "circuit_config_free");
    *(void **)&create = dlsym(lib, "circuit_create");
    *(void **)&destroy = dlsym(lib, "circuit_destroy");
    *(void **)&allow = dlsym(lib, "circuit_allow");
    *(void **)&record_success = dlsym(lib, "circuit_record_success");
    CHECK(config_new && config_free && create && destroy && allow && record_success, "every symbol resolves");

    circuit_config *config = config_new();
    circuit_breaker b = 0;
    CHECK(create(config, &b) == CIRCUIT_OK, "a breaker is created");
    config_free(config);
    CHECK(pairs(b, 1000) == 1000, "1000 pairs on the loading thread");

    pthread_t thread;
    void *result = NULL;
    pthread_create(&thread, NULL, worker, &b);
    pthread_join(thread, &result);
    CHECK(*(long *)result == 1000, "1000 pairs on a thread started after the dlopen");

    CHECK(destroy(b) == CIRCUIT_OK, "destroyed");
    circuit_permit p;
    CHECK(allow(b, &p, NULL) == CIRCUIT_ERR_INVALID_HANDLE, "the destroyed handle is refused");
    pthread_create(&thread, NULL, worker, &b);
    pthread_join(thread, &result);
    CHECK(*(long *)result == 0, "and refused on the other thread too");
    return tap_done();
}
