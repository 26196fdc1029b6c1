/* The HTTP outcome classifier through the C ABI: statuses, errors without a response, verdicts
 * with Retry-After (delta-seconds and HTTP-dates against the caller's wall clock), parsing, and
 * refused input. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "circuit.h"
#include "tap.h"

#define SECOND 1000000000ULL
/* Sun, 06 Nov 1994 08:49:37 GMT */
#define NOV_6_1994_NS (784111777LL * 1000000000LL)

static void test_statuses(void) {
    CHECK(circuit_http_classify_status(200) == CIRCUIT_OUTCOME_SUCCESS, "200 is a success");
    CHECK(circuit_http_classify_status(404) == CIRCUIT_OUTCOME_SUCCESS, "404 is a success");
    CHECK(circuit_http_classify_status(408) == CIRCUIT_OUTCOME_FAILURE, "408 is a failure");
    CHECK(circuit_http_classify_status(429) == CIRCUIT_OUTCOME_FAILURE, "429 is a failure");
    CHECK(circuit_http_classify_status(500) == CIRCUIT_OUTCOME_FAILURE, "500 is a failure");
    CHECK(circuit_http_classify_status(501) == CIRCUIT_OUTCOME_SUCCESS, "501 is a success");
    CHECK(circuit_http_classify_status(503) == CIRCUIT_OUTCOME_FAILURE, "503 is a failure");
}

static void test_errors(void) {
    circuit_outcome o = CIRCUIT_OUTCOME_SUCCESS;
    CHECK(circuit_http_classify_error(CIRCUIT_HTTP_ERROR_CONNECT, &o) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_FAILURE, "connect: failure");
    CHECK(circuit_http_classify_error(CIRCUIT_HTTP_ERROR_TIMEOUT, &o) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_FAILURE, "timeout: failure");
    CHECK(circuit_http_classify_error(CIRCUIT_HTTP_ERROR_CANCELLED, &o) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_IGNORED, "cancelled: ignored");
    CHECK(circuit_http_classify_error(CIRCUIT_HTTP_ERROR_OTHER, &o) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_FAILURE, "other: failure");
    o = CIRCUIT_OUTCOME_SUCCESS;
    CHECK(circuit_http_classify_error(4, &o) == CIRCUIT_ERR_INVALID_ARGUMENT && o == CIRCUIT_OUTCOME_SUCCESS,
          "an unknown error kind is refused, out untouched");
    char message[256];
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "circuit_http_classify_error") && strstr(message, "kind"), "the message names the function and the argument: %s", message);
    CHECK(circuit_http_classify_error(UINT32_MAX, &o) == CIRCUIT_ERR_INVALID_ARGUMENT, "UINT32_MAX refused");
    CHECK(circuit_http_classify_error(CIRCUIT_HTTP_ERROR_OTHER, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_outcome refused");
}

static void test_responses(void) {
    circuit_outcome o;
    uint64_t retry = 0;
    const char *date = "Sun, 06 Nov 1994 08:50:07 GMT";
    CHECK(circuit_http_classify_response(429, date, strlen(date), NOV_6_1994_NS, &o, &retry) == CIRCUIT_OK &&
              o == CIRCUIT_OUTCOME_FAILURE && retry == 30 * SECOND,
          "429 with an HTTP-date 30 s ahead: failure, retry 30 s (%llu)", (unsigned long long)retry);
    CHECK(circuit_http_classify_response(503, "120", 3, 0, &o, &retry) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_FAILURE && retry == 120 * SECOND,
          "503 with delta-seconds");
    CHECK(circuit_http_classify_response(503, "120x", 3, 0, &o, &retry) == CIRCUIT_OK && retry == 120 * SECOND,
          "only retry_after_len bytes are read (not NUL-terminated)");
    CHECK(circuit_http_classify_response(503, NULL, 0, 0, &o, &retry) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_FAILURE && retry == CIRCUIT_NO_TIME,
          "no header: no retry time");
    CHECK(circuit_http_classify_response(503, "soon", 4, 0, &o, &retry) == CIRCUIT_OK && retry == CIRCUIT_NO_TIME,
          "an unparsable header: no retry time");
    CHECK(circuit_http_classify_response(200, "120", 3, 0, &o, &retry) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_SUCCESS && retry == CIRCUIT_NO_TIME,
          "a success keeps no retry time");
    CHECK(circuit_http_classify_response(503, "120", 3, 0, &o, NULL) == CIRCUIT_OK && o == CIRCUIT_OUTCOME_FAILURE,
          "out_retry_after_ns may be NULL");
    CHECK(circuit_http_classify_response(503, "Sun, 06 Nov 1994 08:49:37 GMT", 29, -5 * (int64_t)SECOND, &o, &retry) == CIRCUIT_OK &&
              retry > 0,
          "a now before the epoch is accepted");
    o = CIRCUIT_OUTCOME_IGNORED;
    retry = 7;
    CHECK(circuit_http_classify_response(503, NULL, 3, 0, &o, &retry) == CIRCUIT_ERR_NULL_POINTER && o == CIRCUIT_OUTCOME_IGNORED && retry == 7,
          "NULL retry_after with a nonzero length refused, outs untouched");
    CHECK(circuit_http_classify_response(503, "\xff\xfe", 2, 0, &o, &retry) == CIRCUIT_ERR_INVALID_ARGUMENT, "a non-UTF-8 header refused");
    char message[256];
    circuit_last_error_message(message, sizeof message);
    CHECK(strstr(message, "circuit_http_classify_response") && strstr(message, "retry_after"), "the message names it: %s", message);
    CHECK(circuit_http_classify_response(503, "1", 1, 0, NULL, &retry) == CIRCUIT_ERR_NULL_POINTER, "NULL out_outcome refused");
}

static void test_parse(void) {
    uint64_t retry = 0;
    CHECK(circuit_http_parse_retry_after(" 5 ", 3, 0, &retry) == CIRCUIT_OK && retry == 5 * SECOND, "delta-seconds with spaces");
    const char *rfc850 = "Sunday, 06-Nov-94 08:49:47 GMT";
    CHECK(circuit_http_parse_retry_after(rfc850, strlen(rfc850), NOV_6_1994_NS, &retry) == CIRCUIT_OK && retry == 10 * SECOND,
          "an RFC 850 date");
    const char *asctime_date = "Sun Nov  6 08:49:57 1994";
    CHECK(circuit_http_parse_retry_after(asctime_date, strlen(asctime_date), NOV_6_1994_NS, &retry) == CIRCUIT_OK && retry == 20 * SECOND,
          "an asctime date");
    CHECK(circuit_http_parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", 29, NOV_6_1994_NS, &retry) == CIRCUIT_OK && retry == 0,
          "a date in the past gives 0");
    CHECK(circuit_http_parse_retry_after("-5", 2, 0, &retry) == CIRCUIT_OK && retry == CIRCUIT_NO_TIME, "a negative number: none");
    CHECK(circuit_http_parse_retry_after(NULL, 0, 0, &retry) == CIRCUIT_OK && retry == CIRCUIT_NO_TIME, "empty: none");
    const char *huge = "99999999999999999999999";
    CHECK(circuit_http_parse_retry_after(huge, strlen(huge), 0, &retry) == CIRCUIT_OK && retry == CIRCUIT_NO_TIME - 1,
          "a huge value saturates below CIRCUIT_NO_TIME");
    CHECK(circuit_http_parse_retry_after(NULL, 1, 0, &retry) == CIRCUIT_ERR_NULL_POINTER, "NULL value with a length refused");
    CHECK(circuit_http_parse_retry_after("\xc3", 1, 0, &retry) == CIRCUIT_ERR_INVALID_ARGUMENT, "a non-UTF-8 value refused");
    CHECK(circuit_http_parse_retry_after("5", 1, 0, NULL) == CIRCUIT_ERR_NULL_POINTER, "NULL out_retry_after_ns refused");
}

/* The verdict recorded on a breaker: a 503 with Retry-After 45 opens it for 45 s. */
static void test_verdict_recorded(void) {
    circuit_clock clock;
    circuit_clock_manual_new(&clock);
    circuit_config *config = circuit_config_new();
    circuit_config_set_failure_threshold(config, 1);
    circuit_config_set_reset_timeout_ns(config, SECOND);
    circuit_config_set_max_reset_timeout_ns(config, 3600 * SECOND);
    circuit_config_set_manual_clock(config, clock);
    circuit_breaker b = 0;
    circuit_create(config, &b);
    circuit_config_free(config);
    circuit_permit p;
    circuit_outcome o;
    uint64_t retry;
    CHECK(circuit_allow(b, &p, NULL) == CIRCUIT_OK, "admitted");
    circuit_http_classify_response(503, "45", 2, 0, &o, &retry);
    CHECK(o == CIRCUIT_OUTCOME_FAILURE && circuit_record_failure_retry_after(b, &p, retry) == CIRCUIT_OK, "the verdict recorded");
    circuit_status st = circuit_allow(b, &p, &retry);
    CHECK(st == CIRCUIT_REJECTED_OPEN && retry == 45 * SECOND, "open for the server's 45 s (%llu)", (unsigned long long)retry);
    circuit_destroy(b);
    circuit_clock_destroy(clock);
}

int main(void) {
    test_statuses();
    test_errors();
    test_responses();
    test_parse();
    test_verdict_recorded();
    return tap_done();
}
