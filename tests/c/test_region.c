/* Host-shared breakers through the C API (docs/c-api.md "Host-shared breakers"): a region on a
 * manual clock in a temporary directory, child processes made with fork() that each open the
 * region again by path and create the breaker by name, and answer the parent over pipes.
 *
 *   - 4 children record failures in turn: with failure_threshold 5, the 5th failure across the
 *     processes opens the breaker, for every child and for the parent, whose listener sees the
 *     transition as remote;
 *   - a breaker created again with other options is refused, the message naming each option;
 *   - a family in the region: a forked child creates it by name and trips the member of a key; the
 *     parent's member of that key is open, its family listener gets the transition as remote at
 *     its next operation on the member, another key is closed; a full region answers new keys
 *     with the overflow breaker;
 *   - a child holding the only half-open probe (half_open_max_calls 1) is killed with SIGKILL:
 *     the parent then gets the probe, the breaker is not wedged;
 *   - region handles: closed, forged, NULL, bad paths. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "circuit.h"
#include "tap.h"

#define SECOND 1000000000ULL
#define CHILDREN 4

static char dir[256];

static const char *message(void) {
    static char buf[1024];
    circuit_last_error_message(buf, sizeof buf);
    return buf;
}

static void path_in_dir(char *out, size_t len, const char *name) { snprintf(out, len, "%s/%s", dir, name); }

/* A breaker named `name` in `region` (0 on failure; the status goes to *out_status if given). */
static circuit_breaker make(circuit_region region, const char *name, uint32_t threshold, uint32_t probes,
                            circuit_status *out_status) {
    circuit_config *config = circuit_config_new();
    if (name) circuit_config_set_name(config, name);
    circuit_config_set_failure_threshold(config, threshold);
    circuit_config_set_half_open_max_calls(config, probes);
    circuit_config_set_reset_timeout_ns(config, SECOND);
    circuit_config_set_region(config, region);
    circuit_breaker breaker = 0;
    circuit_status status = circuit_create(config, &breaker);
    circuit_config_free(config);
    if (out_status) *out_status = status;
    return status == CIRCUIT_OK ? breaker : 0;
}

static circuit_breaker_state state_of(circuit_breaker b) {
    circuit_breaker_state s = (circuit_breaker_state)99;
    circuit_state(b, &s);
    return s;
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t len) {
    char *p = data;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- 1. failures across processes -------------------------------------------------------- */

/* What a child answers to a command. */
typedef struct {
    int32_t status;   /* 'f': circuit_allow's status (or of the setup on failure) */
    int32_t state;    /* the state after the command */
    uint64_t failures; /* 's': this process's own counted failures */
} reply;

typedef struct {
    pid_t pid;
    int cmd;   /* parent writes */
    int reply; /* parent reads */
} child;

/* The child's side: open the region by path, create the breaker by name, serve commands. */
static void serve(const char *path, int cmd, int out) {
    reply r = {0, 0, 0};
    circuit_region region = 0;
    circuit_status status = circuit_region_open_manual(path, 8, &region);
    circuit_breaker b = status == CIRCUIT_OK ? make(region, "inventory", 5, 1, &status) : 0;
    if (status == CIRCUIT_OK) circuit_region_close(region); /* the breaker keeps working */
    char c;
    while (read_all(cmd, &c, 1) == 0 && c != 'q') {
        r.status = (int32_t)status;
        if (status == CIRCUIT_OK && c == 'f') {
            circuit_permit permit;
            r.status = (int32_t)circuit_allow(b, &permit, NULL);
            if (r.status == CIRCUIT_OK) circuit_record_failure(b, &permit);
        }
        circuit_process_counts_snapshot counts = {0, 0, 0, 0, 0, 0, 0};
        if (status == CIRCUIT_OK) circuit_process_counts(b, &counts);
        r.state = (int32_t)state_of(b);
        r.failures = counts.failures;
        if (write_all(out, &r, sizeof r) != 0) break;
    }
    if (b) circuit_destroy(b);
    _exit(0);
}

static int spawn(child *c, const char *path) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(to_child[1]);
        close(from_child[0]);
        serve(path, to_child[0], from_child[1]);
    }
    close(to_child[0]);
    close(from_child[1]);
    c->pid = pid;
    c->cmd = to_child[1];
    c->reply = from_child[0];
    return 0;
}

static int ask(child *c, char command, reply *r) {
    return write_all(c->cmd, &command, 1) == 0 && read_all(c->reply, r, sizeof *r) == 0 ? 0 : -1;
}

static int finish(child *c) {
    char q = 'q';
    write_all(c->cmd, &q, 1);
    close(c->cmd);
    close(c->reply);
    int wstatus = 0;
    if (waitpid(c->pid, &wstatus, 0) != c->pid) return -1;
    return WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : -1;
}

typedef struct {
    int calls;
    int remote_opens;
    int local;
} events;

static void on_transition(void *userdata, circuit_breaker breaker, const circuit_transition *t) {
    (void)breaker;
    events *e = userdata;
    e->calls++;
    if (t->remote && t->from == CIRCUIT_STATE_CLOSED && t->to == CIRCUIT_STATE_OPEN &&
        t->reason == CIRCUIT_REASON_FAILURE_THRESHOLD)
        e->remote_opens++;
    if (!t->remote) e->local++;
}

static void test_failures_across_processes(void) {
    char path[512];
    path_in_dir(path, sizeof path, "failures.circuit");
    circuit_region region = 0;
    CHECK(circuit_region_open_manual(path, 8, &region) == CIRCUIT_OK, "manual-clock region created");
    circuit_status status;
    circuit_breaker mine = make(region, "inventory", 5, 1, &status);
    CHECK(status == CIRCUIT_OK, "the parent's breaker is created in the region");
    events seen = {0, 0, 0};
    CHECK(circuit_on_transition(mine, on_transition, &seen, NULL) == CIRCUIT_OK, "the parent listens");

    child children[CHILDREN];
    int spawned = 0;
    for (int i = 0; i < CHILDREN; i++) spawned += spawn(&children[i], path) == 0;
    CHECK(spawned == CHILDREN, "%d child processes forked", CHILDREN);
    if (spawned != CHILDREN) return;

    /* Failures in turn: children 0, 1, 2, 3, 0. The first four leave it closed, the fifth opens it. */
    int admitted = 0, closed_after_four = 1, open_after_five = 0;
    for (int i = 0; i < 5; i++) {
        reply r;
        if (ask(&children[i % CHILDREN], 'f', &r) != 0) break;
        admitted += r.status == CIRCUIT_OK;
        if (i < 4 && r.state != CIRCUIT_STATE_CLOSED) closed_after_four = 0;
        if (i == 4) open_after_five = r.state == CIRCUIT_STATE_OPEN;
    }
    CHECK(admitted == 5, "5 failures admitted and recorded across 4 processes (admitted %d)", admitted);
    CHECK(closed_after_four, "4 failures across processes leave it closed");
    CHECK(open_after_five, "the 5th failure (threshold 5) opens it");
    CHECK(seen.calls == 0, "the parent's listener has not run yet (remote events arrive at its next operation)");

    int all_open = 1;
    uint64_t failures = 0;
    for (int i = 0; i < CHILDREN; i++) {
        reply r = {0, 0, 0};
        if (ask(&children[i], 's', &r) != 0 || r.state != CIRCUIT_STATE_OPEN) all_open = 0;
        failures += r.failures;
    }
    CHECK(all_open, "every child sees it open");
    CHECK(failures == 5, "the children's own counts add up to 5 failures (got %llu)", (unsigned long long)failures);
    reply rejected = {0, 0, 0};
    ask(&children[1], 'f', &rejected);
    CHECK(rejected.status == CIRCUIT_REJECTED_OPEN, "a child's next call is rejected (status %d)", rejected.status);

    CHECK(state_of(mine) == CIRCUIT_STATE_OPEN, "the parent sees it open");
    CHECK(seen.remote_opens == 1 && seen.local == 0,
          "the parent's listener got closed -> open as remote, at its next operation (remote %d, local %d)",
          seen.remote_opens, seen.local);
    circuit_metrics_snapshot m;
    circuit_metrics(mine, &m);
    CHECK(m.failures == 5 && m.opened == 1 && m.rejected_open == 1,
          "region-wide metrics: 5 failures, opened once, 1 rejection (%llu, %llu, %llu)",
          (unsigned long long)m.failures, (unsigned long long)m.opened, (unsigned long long)m.rejected_open);
    circuit_process_counts_snapshot own;
    CHECK(circuit_process_counts(mine, &own) == CIRCUIT_OK && own.admitted == 0 && own.failures == 0,
          "the parent's own counts are zero");

    int exited = 0;
    for (int i = 0; i < CHILDREN; i++) exited += finish(&children[i]) == 0;
    CHECK(exited == CHILDREN, "every child exited with status 0");

    /* Time moves for every process of a manual region. */
    CHECK(circuit_region_advance(region, SECOND) == CIRCUIT_OK, "circuit_region_advance");
    CHECK(state_of(mine) == CIRCUIT_STATE_HALF_OPEN, "after the reset timeout on the region's clock: half-open");
    CHECK(circuit_region_close(region) == CIRCUIT_OK, "circuit_region_close");
    CHECK(circuit_region_close(region) == CIRCUIT_ERR_INVALID_HANDLE, "closing twice: CIRCUIT_ERR_INVALID_HANDLE");
    CHECK(circuit_region_advance(region, 1) == CIRCUIT_ERR_INVALID_HANDLE, "a closed region does not advance");
    circuit_permit probe;
    CHECK(circuit_allow(mine, &probe, NULL) == CIRCUIT_OK && (probe.flags & CIRCUIT_PERMIT_PROBE),
          "the breaker keeps working after its region is closed");
    circuit_record_success(mine, &probe);
    CHECK(state_of(mine) == CIRCUIT_STATE_CLOSED, "its probe success closes it");
    circuit_destroy(mine);
    unlink(path);
}

/* ---- 2. options mismatch and other refusals ---------------------------------------------- */

static void test_refusals(void) {
    char path[512];
    path_in_dir(path, sizeof path, "mismatch.circuit");
    circuit_region region = 0;
    CHECK(circuit_region_open(path, 4, &region) == CIRCUIT_OK, "host-clock region created");
    circuit_status status;
    circuit_breaker b = make(region, "payments", 5, 1, &status);
    CHECK(status == CIRCUIT_OK, "breaker created");

    circuit_config *config = circuit_config_new();
    circuit_config_set_name(config, "payments");
    circuit_config_set_failure_threshold(config, 3);
    circuit_config_set_half_open_max_calls(config, 2);
    circuit_config_set_reset_timeout_ns(config, SECOND);
    circuit_config_set_region(config, region);
    circuit_breaker other = 0;
    status = circuit_create(config, &other);
    circuit_config_free(config);
    const char *text = message();
    CHECK(status == CIRCUIT_ERR_REGION, "the same name with other options: CIRCUIT_ERR_REGION (%s)",
          circuit_status_name(status));
    CHECK(other == 0, "nothing created");
    CHECK(strstr(text, "already exists with different options") != NULL, "the message says why: %s", text);
    CHECK(strstr(text, "failure_threshold") && strstr(text, "half_open_max_calls"),
          "the message names each differing option");
    CHECK(strstr(text, path) != NULL, "the message names the region's path");

    make(region, NULL, 5, 1, &status);
    text = message();
    CHECK(status == CIRCUIT_ERR_REGION && strstr(text, "needs a name"), "an unnamed breaker is refused: %s", text);

    circuit_region manual = 0;
    status = circuit_region_open_manual(path, 4, &manual);
    CHECK(status == CIRCUIT_ERR_REGION && strstr(message(), "clock"), "the other clock is refused: %s", message());
    status = circuit_region_open(path, 5, &manual);
    CHECK(status == CIRCUIT_ERR_REGION && strstr(message(), "capacity"), "another capacity is refused: %s", message());
    CHECK(circuit_region_advance(region, 1) == CIRCUIT_ERR_REGION, "a host-clock region does not advance");

    char bad[600];
    path_in_dir(bad, sizeof bad, "missing/dir/r.circuit");
    status = circuit_region_open(bad, 4, &manual);
    CHECK(status == CIRCUIT_ERR_REGION && strstr(message(), "missing/dir"), "a missing directory: %s", message());
    CHECK(manual == 0, "out-parameter untouched on error");
    CHECK(circuit_region_open(NULL, 4, &manual) == CIRCUIT_ERR_NULL_POINTER, "NULL path");
    CHECK(circuit_region_open(path, 4, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_region");
    CHECK(circuit_config_set_region(NULL, region) == CIRCUIT_ERR_NULL_POINTER, "NULL config");
    CHECK(circuit_process_counts(b, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL counts");
    CHECK(circuit_region_close(0) == CIRCUIT_ERR_INVALID_HANDLE, "handle 0 is refused");
    CHECK(circuit_region_close(b) == CIRCUIT_ERR_INVALID_HANDLE, "a breaker handle is not a region handle");

    circuit_family family = 0;
    config = circuit_config_new();
    circuit_config_set_name(config, "hosts");
    circuit_config_set_region(config, region);
    circuit_clock clock = 0;
    circuit_clock_manual_new(&clock);
    circuit_config_set_manual_clock(config, clock);
    status = circuit_family_create(config, 0, 0, &family);
    CHECK(status == CIRCUIT_ERR_INVALID_CONFIG && strstr(message(), "region's clock") && family == 0,
          "a family in a region with a manual clock as well is refused: %s", message());
    circuit_clock_destroy(clock);
    circuit_config_free(config);
    config = circuit_config_new();
    circuit_config_set_failure_threshold(config, 2);
    circuit_config_set_region(config, region);
    status = circuit_family_create(config, 0, 0, &family);
    CHECK(status == CIRCUIT_ERR_REGION && strstr(message(), "needs a name") && family == 0,
          "an unnamed family in a region is refused: %s", message());
    circuit_config_set_name(config, "hosts");
    status = circuit_family_create(config, 0, 0, &family);
    CHECK(status == CIRCUIT_OK, "a family in a host-clock region is created: %s", status == CIRCUIT_OK ? "ok" : message());
    circuit_family_destroy(family);
    circuit_region_close(region);
    status = circuit_config_set_region(config, region);
    CHECK(status == CIRCUIT_ERR_INVALID_HANDLE, "a closed region cannot be set");
    circuit_config_free(config);

    circuit_destroy(b);
    unlink(path);
}

/* ---- 3. a family in a region, across processes ------------------------------------------ */

#define FAMILY_KEY "a.example"

/* A family "hosts" (failure_threshold 2) whose members live in the region at `path`. */
static circuit_family make_family(const char *path, circuit_status *out_status) {
    circuit_region region = 0;
    circuit_status status = circuit_region_open_manual(path, 8, &region);
    circuit_family family = 0;
    if (status == CIRCUIT_OK) {
        circuit_config *config = circuit_config_new();
        circuit_config_set_name(config, "hosts");
        circuit_config_set_failure_threshold(config, 2);
        circuit_config_set_reset_timeout_ns(config, SECOND);
        circuit_config_set_region(config, region);
        status = circuit_family_create(config, 0, 0, &family);
        circuit_config_free(config);
        circuit_region_close(region); /* the family keeps working */
    }
    *out_status = status;
    return status == CIRCUIT_OK ? family : 0;
}

static circuit_breaker member_of(circuit_family family, const char *key) {
    circuit_breaker b = 0;
    return circuit_family_get(family, key, strlen(key), &b) == CIRCUIT_OK ? b : 0;
}

static int name_is(circuit_breaker b, const char *want) {
    char name[128];
    size_t n = 0;
    return circuit_name(b, name, sizeof name, &n) == CIRCUIT_OK && strcmp(name, want) == 0;
}

typedef struct {
    int calls;
    int remote_opens_of_key; /* remote closed -> open of FAMILY_KEY */
    int other;               /* anything else */
} family_events;

static void on_member_transition(void *userdata, const char *key, size_t key_len, const circuit_transition *t) {
    family_events *e = userdata;
    e->calls++;
    if (key && key_len == strlen(FAMILY_KEY) && memcmp(key, FAMILY_KEY, key_len) == 0 && t->remote &&
        t->from == CIRCUIT_STATE_CLOSED && t->to == CIRCUIT_STATE_OPEN && t->reason == CIRCUIT_REASON_FAILURE_THRESHOLD)
        e->remote_opens_of_key++;
    else
        e->other++;
}

/* The child: open the region by path, create the family, trip the member of FAMILY_KEY, report. */
static void trip_in_child(const char *path, int out) {
    reply r = {0, 0, 0};
    circuit_status status;
    circuit_family family = make_family(path, &status);
    circuit_breaker b = status == CIRCUIT_OK ? member_of(family, FAMILY_KEY) : 0;
    r.status = (int32_t)status;
    if (b) {
        for (int i = 0; i < 2; i++) {
            circuit_permit permit;
            if (circuit_allow(b, &permit, NULL) == CIRCUIT_OK) {
                circuit_record_failure(b, &permit);
                r.failures++;
            }
        }
        r.state = (int32_t)state_of(b);
        circuit_destroy(b);
    } else if (status == CIRCUIT_OK) {
        r.status = -1;
    }
    if (family) circuit_family_destroy(family);
    int ok = write_all(out, &r, sizeof r) == 0;
    _exit(ok ? 0 : 1);
}

static void test_family_across_processes(void) {
    char path[512];
    path_in_dir(path, sizeof path, "family.circuit");
    circuit_status status;
    circuit_family family = make_family(path, &status);
    CHECK(status == CIRCUIT_OK, "a family is created in a region: %s", status == CIRCUIT_OK ? "ok" : message());
    if (status != CIRCUIT_OK) return;
    family_events seen = {0, 0, 0};
    uint64_t id = 0;
    CHECK(circuit_family_on_transition(family, on_member_transition, &seen, &id) == CIRCUIT_OK,
          "the parent listens to the family");
    circuit_breaker mine = member_of(family, FAMILY_KEY);
    CHECK(mine && name_is(mine, "hosts/" FAMILY_KEY) && state_of(mine) == CIRCUIT_STATE_CLOSED,
          "the parent's member hosts/" FAMILY_KEY " is closed");
    bool shared = false;
    CHECK(circuit_is_shared(mine, &shared) == CIRCUIT_OK && shared, "a member of a family in a region is shared");

    int from_child[2];
    if (pipe(from_child) != 0) {
        CHECK(0, "pipe");
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(from_child[0]);
        trip_in_child(path, from_child[1]);
    }
    close(from_child[1]);
    reply r = {0, 0, 0};
    int got = pid > 0 && read_all(from_child[0], &r, sizeof r) == 0;
    close(from_child[0]);
    int wstatus = 0;
    int exited = pid > 0 && waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    CHECK(got && exited, "a forked child opened the region by path, created the family and exited with status 0");
    CHECK(r.status == CIRCUIT_OK && r.failures == 2 && r.state == CIRCUIT_STATE_OPEN,
          "the child's 2 failures (threshold 2) open its member (status %d, failures %llu, state %d)", r.status,
          (unsigned long long)r.failures, r.state);
    CHECK(seen.calls == 0, "the parent's family listener has not run yet (remote events arrive at its next operation)");

    CHECK(state_of(mine) == CIRCUIT_STATE_OPEN, "the parent's member for the key is open");
    CHECK(seen.remote_opens_of_key == 1 && seen.other == 0,
          "the parent's keyed listener got closed -> open with remote set, at its next operation on the member "
          "(remote opens %d, other %d)",
          seen.remote_opens_of_key, seen.other);
    circuit_breaker again = member_of(family, FAMILY_KEY);
    CHECK(again && state_of(again) == CIRCUIT_STATE_OPEN, "circuit_family_get of the key again: open");
    circuit_breaker other = member_of(family, "b.example");
    CHECK(other && name_is(other, "hosts/b.example") && state_of(other) == CIRCUIT_STATE_CLOSED,
          "another key is closed");
    circuit_metrics_snapshot m;
    circuit_metrics(mine, &m);
    CHECK(m.failures == 2 && m.opened == 1, "the member's metrics are region-wide (failures %llu, opened %llu)",
          (unsigned long long)m.failures, (unsigned long long)m.opened);

    /* Records in use: hosts/(overflow), hosts/a.example, hosts/b.example. Fill the other 5; the
     * next new key gets the overflow breaker. */
    int filled = 0;
    const char *keys[] = {"k1", "k2", "k3", "k4", "k5"};
    for (int i = 0; i < 5; i++) {
        circuit_breaker k = member_of(family, keys[i]);
        char want[32];
        snprintf(want, sizeof want, "hosts/%s", keys[i]);
        filled += k && name_is(k, want);
        circuit_destroy(k);
    }
    CHECK(filled == 5, "5 more keys fill the region (%d)", filled);
    circuit_breaker overflow = member_of(family, "one-too-many");
    bool contains = true;
    circuit_family_contains(family, "one-too-many", 12, &contains);
    CHECK(overflow && name_is(overflow, "hosts/(overflow)") && !contains,
          "a full region answers a new key with the overflow breaker");

    circuit_destroy(overflow);
    circuit_destroy(other);
    circuit_destroy(again);
    circuit_destroy(mine);
    CHECK(circuit_family_destroy(family) == CIRCUIT_OK, "circuit_family_destroy");
    unlink(path);
}

/* ---- 4. a probe holder killed with SIGKILL ----------------------------------------------- */

static void test_killed_probe_holder(void) {
    char path[512];
    path_in_dir(path, sizeof path, "probe.circuit");
    circuit_region region = 0;
    CHECK(circuit_region_open_manual(path, 4, &region) == CIRCUIT_OK, "region created");
    circuit_status status;
    circuit_breaker mine = make(region, "search", 1, 1, &status);
    circuit_permit permit;
    circuit_allow(mine, &permit, NULL);
    circuit_record_failure(mine, &permit);
    CHECK(state_of(mine) == CIRCUIT_STATE_OPEN, "one failure opens it");
    circuit_region_advance(region, SECOND);

    int from_child[2];
    if (pipe(from_child) != 0) return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(from_child[0]);
        circuit_region r = 0;
        int32_t result = (int32_t)circuit_region_open_manual(path, 4, &r);
        circuit_breaker b = result == CIRCUIT_OK ? make(r, "search", 1, 1, &status) : 0;
        circuit_permit probe;
        if (b) result = (int32_t)circuit_allow(b, &probe, NULL);
        if (result == CIRCUIT_OK && !(probe.flags & CIRCUIT_PERMIT_PROBE)) result = -1;
        write_all(from_child[1], &result, sizeof result);
        for (;;) pause(); /* holds the probe until killed */
    }
    close(from_child[1]);
    int32_t result = -2;
    read_all(from_child[0], &result, sizeof result);
    close(from_child[0]);
    CHECK(result == CIRCUIT_OK, "the child took the only probe (status %d)", result);
    status = circuit_allow(mine, &permit, NULL);
    CHECK(status == CIRCUIT_REJECTED_HALF_OPEN_FULL, "while it lives, the parent is refused (%s)",
          circuit_status_name(status));
    kill(pid, SIGKILL);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    CHECK(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL, "the child was killed with SIGKILL");
    status = circuit_allow(mine, &permit, NULL);
    CHECK(status == CIRCUIT_OK && (permit.flags & CIRCUIT_PERMIT_PROBE),
          "the dead process's probe is freed: the parent gets a probe (%s)", circuit_status_name(status));
    if (status == CIRCUIT_OK) circuit_record_success(mine, &permit);
    CHECK(state_of(mine) == CIRCUIT_STATE_CLOSED, "its success closes the breaker");
    circuit_destroy(mine);
    circuit_region_close(region);
    unlink(path);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/circuit-region-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_failures_across_processes();
    test_refusals();
    test_family_across_processes();
    test_killed_probe_holder();
    rmdir(dir);
    return tap_done();
}
