'use strict';
// circuit-core/opentelemetry: the metric set read back through the OpenTelemetry SDK (a MeterProvider
// with a MetricReader whose collect() the test calls), for a breaker and a family on a manual
// clock: instrument names, kinds, descriptions, units, attributes and values.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { MeterProvider, MetricReader, DataPointType } = require('@opentelemetry/sdk-metrics');
const { instrument } = require('circuit-core/opentelemetry');
const { BreakerFamily, CircuitBreaker, ManualClock } = require('circuit-core');
const native = require('../binding.js');

/** A reader collected on demand. */
class TestReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}

function setup() {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('circuit-test');
  /** instrument name -> { descriptor, dataPointType, points: [{ attributes, value }] } */
  const collect = async () => {
    const { resourceMetrics, errors } = await reader.collect();
    assert.deepEqual(errors, []);
    const out = new Map();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) out.set(metric.descriptor.name, metric);
    }
    return out;
  };
  return { meter, collect, provider };
}

/** The value of the data point of `metric` with exactly `attributes`, or `undefined`. */
function point(metric, attributes) {
  const want = JSON.stringify(Object.entries(attributes).sort());
  const found = metric.dataPoints.find((p) => JSON.stringify(Object.entries(p.attributes).sort()) === want);
  return found?.value;
}

describe('circuit-core/opentelemetry', () => {
  test('every family of the set is an instrument named by its OpenTelemetry name, read at collection', async () => {
    const { meter, collect, provider } = setup();
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ name: 'payments', failureThreshold: 2, resetTimeout: 1000, clock });
    instrument(meter, breaker);
    breaker.executeSync(() => 'ok');
    for (let i = 0; i < 2; i++) assert.throws(() => breaker.executeSync(() => { throw new Error('down'); }));
    assert.throws(() => breaker.allow(), { code: 'ECIRCUITOPEN' });
    clock.advance(1500);
    const metrics = await collect();
    const families = native.families();
    assert.equal(families.length, 9);
    for (const family of families) {
      const metric = metrics.get(family.otelName);
      assert.ok(metric, `instrument ${family.otelName}`);
      assert.equal(metric.descriptor.description, family.help, `${family.otelName} description`);
      assert.equal(metric.descriptor.unit, family.unit, `${family.otelName} unit`);
      if (family.kind === 'counter') {
        assert.equal(metric.dataPointType, DataPointType.SUM, `${family.otelName} is a counter`);
        assert.equal(metric.isMonotonic, true);
      } else {
        assert.equal(metric.dataPointType, DataPointType.GAUGE, `${family.otelName} is a gauge`);
      }
    }
    assert.equal(point(metrics.get('circuit_breaker.calls'), { name: 'payments', outcome: 'failure' }), 2);
    assert.equal(point(metrics.get('circuit_breaker.calls'), { name: 'payments', outcome: 'success' }), 1);
    assert.equal(point(metrics.get('circuit_breaker.rejected_calls'), { name: 'payments', reason: 'open' }), 1);
    // Open for 1000 ms, then due: the collection applies the transition to half-open first.
    assert.equal(point(metrics.get('circuit_breaker.state'), { name: 'payments', state: 'half_open' }), 1);
    assert.equal(point(metrics.get('circuit_breaker.state'), { name: 'payments', state: 'open' }), 0);
    assert.equal(point(metrics.get('circuit_breaker.time_in_state_seconds'), { name: 'payments' }), 0.5);
    const transitions = metrics.get('circuit_breaker.transitions');
    assert.equal(point(transitions, { name: 'payments', from: 'closed', to: 'open', reason: 'failure_threshold' }), 1);
    assert.equal(point(transitions, { name: 'payments', from: 'open', to: 'half_open', reason: 'open_elapsed' }), 1);
    await provider.shutdown();
  });

  test('a family: members with their key, the overflow breaker; unregister stops observing', async () => {
    const { meter, collect, provider } = setup();
    const family = new BreakerFamily({ name: 'api', maxKeys: 4 });
    const other = new CircuitBreaker({ name: 'other' });
    const instrumentation = instrument(meter, family);
    instrument(meter, other);
    await family.execute('a', () => 'ok');
    let metrics = await collect();
    const calls = metrics.get('circuit_breaker.calls');
    assert.equal(point(calls, { name: 'api', key: 'a', outcome: 'success' }), 1);
    assert.equal(point(calls, { name: 'api', key: '(overflow)', outcome: 'success' }), 0);
    assert.equal(point(calls, { name: 'other', outcome: 'success' }), 0);
    assert.throws(() => instrument(meter, family), { code: 'ERR_INVALID_ARG_VALUE', message: /already instrumented/ });
    instrumentation.unregister();
    instrumentation.unregister();
    // No longer observed: the SDK reports the last value it saw (cumulative), not the new ones.
    await family.execute('a', () => 'ok');
    other.executeSync(() => 'ok');
    metrics = await collect();
    const after = metrics.get('circuit_breaker.calls');
    assert.equal(point(after, { name: 'api', key: 'a', outcome: 'success' }), 1, 'the family is no longer observed');
    assert.equal(point(after, { name: 'other', outcome: 'success' }), 1, 'the breaker still is');
    instrument(meter, family); // again, on the same meter's instruments
    metrics = await collect();
    assert.equal(point(metrics.get('circuit_breaker.calls'), { name: 'api', key: 'a', outcome: 'success' }), 2);
    await provider.shutdown();
  });

  test('bad arguments are refused with a code', () => {
    const { meter } = setup();
    assert.throws(() => instrument({}, new CircuitBreaker()), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /Meter/ });
    assert.throws(() => instrument(meter, 'breaker'), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE', message: /CircuitBreaker or a BreakerFamily/ });
  });
});
