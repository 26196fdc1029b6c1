'use strict';
// The core's HTTP classifier as the package exports it: the same answers as core/src/http.rs
// (the conformance vectors of 08_http.json check them all), and named errors for bad arguments.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { classifyStatus, classifyError, classifyResponse, parseRetryAfter } = require('..');

const NOV_6_1994 = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT, in ms

describe('HTTP classifier', () => {
  test('statuses: 5xx but 501, 408 and 429 fail; the rest succeed', () => {
    for (const s of [500, 502, 503, 504, 599, 408, 429]) assert.equal(classifyStatus(s), 'failure', String(s));
    for (const s of [100, 200, 204, 301, 304, 400, 401, 404, 409, 501]) assert.equal(classifyStatus(s), 'success', String(s));
  });

  test('errors: cancelled is ignored, connect, timeout and other fail', () => {
    assert.equal(classifyError('cancelled'), 'ignored');
    for (const kind of ['connect', 'timeout', 'other']) assert.equal(classifyError(kind), 'failure', kind);
  });

  test('responses: Retry-After kept for failures only, in ms; an HTTP-date from `now`', () => {
    assert.deepEqual(classifyResponse(503, '120'), { outcome: 'failure', retryAfter: 120_000 });
    assert.deepEqual(classifyResponse(429, 'Sun, 06 Nov 1994 08:50:07 GMT', NOV_6_1994), { outcome: 'failure', retryAfter: 30_000 });
    assert.deepEqual(classifyResponse(200, '120'), { outcome: 'success', retryAfter: null });
    assert.deepEqual(classifyResponse(503, 'soon'), { outcome: 'failure', retryAfter: null });
    assert.deepEqual(classifyResponse(503), { outcome: 'failure', retryAfter: null });
    assert.deepEqual(classifyResponse(503, null), { outcome: 'failure', retryAfter: null });
  });

  test('parseRetryAfter: delta-seconds, the three date forms, null for anything else', () => {
    assert.equal(parseRetryAfter(' 30 '), 30_000);
    for (const form of ['Sun, 06 Nov 1994 08:50:07 GMT', 'Sunday, 06-Nov-94 08:50:07 GMT', 'Sun Nov  6 08:50:07 1994']) {
      assert.equal(parseRetryAfter(form, NOV_6_1994), 30_000, form);
    }
    assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:00:00 GMT', NOV_6_1994), 0, 'a past date is zero');
    for (const bad of ['', '-5', '1.5', 'soon']) assert.equal(parseRetryAfter(bad), null, bad);
  });

  test('bad arguments throw TypeError or RangeError with a code, naming the argument', () => {
    const typeErr = (name) => (err) => err instanceof TypeError && err.code === 'ERR_INVALID_ARG_TYPE' && err.message.includes(`\`${name}\``);
    const rangeErr = (name) => (err) => err instanceof RangeError && err.message.includes(`\`${name}\``) && typeof err.code === 'string';
    assert.throws(() => classifyStatus('503'), typeErr('status'));
    assert.throws(() => classifyStatus(99), rangeErr('status'));
    assert.throws(() => classifyStatus(1000), rangeErr('status'));
    assert.throws(() => classifyStatus(200.5), rangeErr('status'));
    assert.throws(() => classifyError(1), typeErr('kind'));
    assert.throws(() => classifyError('refused'), rangeErr('kind'));
    assert.throws(() => classifyResponse(503, 30), typeErr('retryAfter'));
    assert.throws(() => classifyResponse(503, '30', 'now'), typeErr('now'));
    assert.throws(() => classifyResponse(503, '30', -1), rangeErr('now'));
    assert.throws(() => parseRetryAfter(30), typeErr('value'));
    assert.throws(() => parseRetryAfter('30', Number.NaN), rangeErr('now'));
  });
});
