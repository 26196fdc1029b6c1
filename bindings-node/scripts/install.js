#!/usr/bin/env node
'use strict';
// The `install` script of the package in a clone (`npm install <clone>/bindings-node`): builds the
// native addon from source unless a binary for this platform is already there and loads.
// `npm install ./bindings-node` links the folder without installing the package's own
// dependencies, so the build tool (@napi-rs/cli, a dev dependency) is installed here first when it
// is missing. The packed package (scripts/dist-node) has no install script: its binary comes in
// the platform package circuit-core-<platform>, an optional dependency.
//
// Environment: CARGO_TARGET_DIR (default: <repository>/target/napi), CIRCUIT_FORCE_BUILD=1 to
// rebuild even when a binary loads.

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const WINDOWS = process.platform === 'win32';

function run(command, args, env = process.env) {
  console.error(`circuit-core: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: ROOT, stdio: 'inherit', env, shell: WINDOWS });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(`circuit-core: \`${command} ${args.join(' ')}\` failed with status ${result.status}`);
    process.exit(result.status ?? 1);
  }
}

function addonLoads() {
  try {
    require(path.join(ROOT, 'binding.js'));
    return true;
  } catch {
    return false;
  }
}

if (process.env.CIRCUIT_FORCE_BUILD !== '1' && addonLoads()) {
  console.error('circuit-core: the native addon for this platform is present');
  process.exit(0);
}

if (spawnSync('cargo', ['--version'], { shell: WINDOWS }).status !== 0) {
  console.error('circuit-core: no native addon for this platform, and building it from source needs Rust (cargo on PATH): https://rustup.rs');
  process.exit(1);
}

const napi = path.join(ROOT, 'node_modules', '.bin', WINDOWS ? 'napi.cmd' : 'napi');
if (!fs.existsSync(napi)) {
  // Install the build tool into this package (not into the project that installs it). The
  // npm_config_* variables of the outer `npm install` (global, prefix, ...) must not leak in.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  run('npm', ['ci', '--include=dev', '--ignore-scripts', '--no-audit', '--no-fund'], env);
}

const env = { ...process.env };
if (!env.CARGO_TARGET_DIR && fs.existsSync(path.join(ROOT, '..', 'Cargo.toml'))) {
  env.CARGO_TARGET_DIR = path.join(ROOT, '..', 'target', 'napi');
}
run(napi, ['build', '--platform', '--release', '--js', 'napi-loader.js', '--dts', 'binding.d.ts'], env);
