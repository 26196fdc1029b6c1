'use strict';
// The package surface: CommonJS and ESM entries export the same objects, every runtime export is
// declared in index.d.ts, package.json says what the issue requires, and the private native layer
// refuses garbage instead of crashing.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const circuit = require('..');
const native = require('../binding.js');
const P = require('../lib/protocol.js');
const { fast, allow, trivialCell } = require('./native-call.js');

const ROOT = path.join(__dirname, '..');
const CLASSES = ['BreakerFamily', 'CircuitBreaker', 'CircuitOpenError', 'FamilyPermit', 'HostRegion', 'ManualClock', 'Permit', 'PermitError', 'RedisFleet', 'RegionError', 'StateError', 'TimeoutError'];
const FUNCTIONS = ['classifyError', 'classifyResponse', 'classifyStatus', 'parseRetryAfter', 'redisFleet'];
/** Constants (`export const` in index.d.ts). */
const CONSTANTS = ['FLEET_SCRIPT', 'FLEET_SCRIPT_SHA1'];
const EXPORTS = [...CLASSES, ...FUNCTIONS, ...CONSTANTS].sort();
/** The integrations: subpath -> its folder in lib/, its exports and its optional peer dependency
 * (`undefined`: none). */
const SUBPATHS = {
  fetch: ['http', ['wrapFetch'], undefined],
  undici: ['http', ['interceptor'], 'undici'],
  axios: ['http', ['attach'], 'axios'],
  prometheus: ['observe', ['register'], 'prom-client'],
  opentelemetry: ['observe', ['instrument'], '@opentelemetry/api'],
};

describe('package', () => {
  test('CommonJS exports', () => {
    assert.deepEqual(Object.keys(circuit).sort(), EXPORTS);
    assert.equal(require('circuit-core'), circuit, 'self-reference through package.json "exports"');
  });

  test('the ESM entry re-exports the same objects', async () => {
    const esm = await import('circuit-core');
    for (const name of EXPORTS) assert.equal(esm[name], circuit[name], name);
    assert.equal(esm.default, circuit);
  });

  test('index.d.ts declares every export', () => {
    const dts = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8');
    for (const name of CLASSES) assert.match(dts, new RegExp(`^export class ${name}\\b`, 'm'), name);
    for (const name of FUNCTIONS) assert.match(dts, new RegExp(`^export function ${name}\\b`, 'm'), name);
  });

  test('the integrations are subpath exports with their types, for require and import', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    for (const [sub, [folder, names, peer]] of Object.entries(SUBPATHS)) {
      const entry = pkg.exports[`./${sub}`];
      assert.deepEqual(entry, { types: `./lib/${folder}/${sub}.d.ts`, default: `./lib/${folder}/${sub}.js` }, sub);
      const dts = fs.readFileSync(path.join(ROOT, entry.types), 'utf8');
      const cjs = require(`circuit-core/${sub}`);
      const esm = await import(`circuit-core/${sub}`);
      assert.deepEqual(Object.keys(cjs).sort(), names, sub);
      for (const name of names) {
        assert.equal(typeof cjs[name], 'function', `${sub}.${name}`);
        assert.equal(esm[name], cjs[name], `ESM ${sub}.${name}`);
        assert.match(dts, new RegExp(`^export function ${name}\\b`, 'm'), `${entry.types} declares ${name}`);
      }
      if (peer !== undefined) {
        assert.ok(pkg.peerDependencies?.[peer], `${peer} is a peer dependency of ${sub}`);
        assert.ok(pkg.peerDependenciesMeta?.[peer]?.optional, `${peer} is an optional peer dependency`);
        assert.ok(pkg.devDependencies?.[peer], `${peer} is a dev dependency (the tests use it)`);
      }
    }
  });

  test('package.json: name, license, engines, entry points, install script, files', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.name, 'circuit-core');
    assert.equal(pkg.license, 'MIT OR Apache-2.0');
    assert.equal(pkg.engines.node, '>=20');
    assert.equal(pkg.main, 'index.js');
    assert.equal(pkg.types, 'index.d.ts');
    assert.deepEqual(pkg.exports['.'], { types: './index.d.ts', import: './index.mjs', require: './index.js' });
    assert.match(pkg.scripts.install, /scripts\/install\.js/);
    assert.ok(!pkg.dependencies?.['@napi-rs/cli'] && pkg.devDependencies['@napi-rs/cli'], '@napi-rs/cli is a dev dependency only (install.js installs it for a build from source)');
    for (const file of pkg.files.filter((f) => !f.includes('*') && !f.endsWith('/'))) {
      assert.ok(fs.existsSync(path.join(ROOT, file)), `${file} is listed in "files" and exists`);
    }
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
    assert.equal(lock.packages[''].name, 'circuit-core');
    assert.deepEqual(lock.packages[''].dependencies, pkg.dependencies, 'package-lock.json matches package.json');
    assert.deepEqual(lock.packages[''].devDependencies, pkg.devDependencies, 'package-lock.json matches package.json');
  });

  test('the packed file list has every file the package loads, and no tests or benchmarks', () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const packed = spawnSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(packed.status, 0, packed.stderr);
    const files = new Set(JSON.parse(packed.stdout)[0].files.map((f) => f.path));
    const dir = (name, ext) =>
      fs.readdirSync(path.join(ROOT, name)).filter((f) => f.endsWith(ext)).map((f) => `${name}/${f}`);
    const expected = [
      'package.json',
      'index.js',
      'index.mjs',
      'index.d.ts',
      'binding.js',
      'binding.d.ts',
      'scripts/install.js',
      'Cargo.toml',
      'build.rs',
      ...dir('lib', '.js'),
      ...dir('lib/http', '.js'),
      ...dir('lib/http', '.d.ts'),
      ...dir('lib/observe', '.js'),
      ...dir('lib/observe', '.d.ts'),
      ...dir('src', '.rs'),
    ];
    assert.ok(dir('lib', '.js').length >= 8, 'lib/ has one file per concept');
    for (const file of expected) assert.ok(files.has(file), `${file} is packed`);
    for (const file of files) assert.doesNotMatch(file, /^(__test__|bench|node_modules)\//, `${file} is not packed`);
  });

  test('the generated loader and types are present', () => {
    const dts = fs.readFileSync(path.join(ROOT, 'binding.d.ts'), 'utf8');
    for (const name of ['NativeBreaker', 'NativeClock', 'NativeFamily', 'createBreaker', 'createFamily', 'schema', 'protocol']) {
      assert.match(dts, new RegExp(`\\b${name}\\b`), name);
      assert.ok(native[name], `${name} is exported by the addon`);
    }
    // Test-only exports exist only in the test build of the addon, never in binding.js/.d.ts.
    assert.doesNotMatch(dts, /liveBreakers/);
    const testBuild = require(path.join(ROOT, `circuit.${process.platform}-${process.arch}-gnu.node`));
    assert.equal(typeof testBuild.liveBreakers, 'function', 'the test build has liveBreakers');
    for (const name of ['fastAllow', 'fastSettle', 'fastRecord', 'fastRecordParts', 'fastState', 'trivialView', 'frameView']) {
      assert.equal(typeof native[name], 'function', name);
    }
  });
});

describe('native layer', () => {
  test('the schema has the core spellings', () => {
    const v = native.schema();
    assert.deepEqual(v.states, ['closed', 'open', 'half_open', 'forced_open', 'disabled']);
    assert.deepEqual(v.rejectReasons, ['open', 'half_open_full', 'forced_open']);
    assert.deepEqual(v.outcomes, ['success', 'failure', 'ignored']);
    assert.equal(v.reasons.length, 10);
  });

  test('bad ids, outcomes and arguments throw instead of crashing', () => {
    const err = (e) => e instanceof Error && e.code === 'ERR_CIRCUIT_NATIVE';
    const { id } = native.createBreaker({}, null);
    assert.throws(() => fast('fastAllow', 1_000_000, 0), err, 'unknown id');
    assert.throws(() => fast('fastAllow', undefined, 0), err, 'no id (NaN)');
    assert.throws(() => fast('fastAllow', -1, 0), err, 'negative id');
    assert.throws(() => fast('fastAllow', 0.5, 0), err, 'fractional id');
    assert.throws(() => fast('fastAllow', 2 ** 32, 0), err, 'id beyond 32 bits');
    assert.throws(() => fast('fastAllow', id), err, 'no successes count (NaN)');
    assert.throws(() => fast('fastState', 1_000_000), err);
    assert.equal(allow(id), 0, 'generation 0, no events');
    assert.throws(() => fast('fastRecord', id, P.OUTCOME_SCALE - 1), err, 'outcome 3 does not exist');
    assert.throws(() => fast('fastRecord', id), err, 'missing token');
    assert.throws(() => fast('fastRecord', id, -4), err, 'negative token');
    assert.throws(() => fast('fastRecord', id, 0.5), err, 'fractional token');
    assert.throws(() => fast('fastRecordParts', id, 0, 0, 0, 0), err, 'missing ticket');
    assert.throws(() => fast('fastRecordParts', id, 0, 0, 2 ** 32, 0, 0), err, 'admission half beyond 32 bits');
    assert.throws(() => fast('fastSettle', id, Number.POSITIVE_INFINITY), err);
    assert.throws(() => fast('trivialView', 1_000_000), err);
    assert.equal(fast('fastState', id), 0, 'closed, no events');
  });

  test('forged permits are stale or refused, never trusted', () => {
    const { id } = native.createBreaker({ failureThreshold: 1, resetTimeout: 0 }, null);
    const FAILURE = native.schema().outcomes.indexOf('failure');
    const token = (allow(id) / P.PERMIT_SCALE) * P.OUTCOME_SCALE + FAILURE;
    assert.equal(fast('fastRecord', id, token) & P.COUNTED, P.COUNTED, 'a counted failure trips it');
    const state = fast('fastState', id);
    assert.equal((state - (state & P.EVENTS)) / P.STATE_SCALE, 2, 'half_open (reset timeout 0)');
    // A probe ticket that was never issued is refused as already recorded.
    assert.equal(fast('fastRecordParts', id, 0, 2, 0, 0, 12345), P.ALREADY_RECORDED);
    // A permit of a past generation is stale: neither counted nor an error.
    assert.equal(fast('fastRecord', id, 0) & P.COUNTED, 0);
  });

  test('fastSettle records held-back successes of the trivial generation; fastAllow hands them over too', () => {
    const err = (e) => e instanceof Error && e.code === 'ERR_CIRCUIT_NATIVE';
    const handle = native.createBreaker({}, null);
    const { id } = handle;
    const trivial = trivialCell(id);
    assert.equal(trivial(), P.NO_TRIVIAL_GENERATION, 'nothing admitted yet');
    assert.equal(fast('fastSettle', id, 0), 0);
    assert.throws(() => fast('fastSettle', id, 1), err, 'no generation to record them in');
    assert.equal(allow(id), 0, 'admitted in generation 0');
    assert.equal(trivial(), 0, 'the engine says a success of generation 0 is trivial');
    assert.equal(fast('fastSettle', id, 3), 0);
    assert.equal(fast('fastAllow', id, 2), 0, 'admitted in generation 0');
    const successes = native.schema().metrics.findIndex((m) => m.name === 'successes');
    assert.equal(handle.metrics()[successes], 5);
  });

  test('createBreaker reports an invalid option with the core name', () => {
    const problem = native.createBreaker({ failureRateThreshold: 2 }, null);
    assert.equal(problem.option, 'failure_rate_threshold');
    assert.match(problem.reason, /\(0, 1\]/);
  });
});
