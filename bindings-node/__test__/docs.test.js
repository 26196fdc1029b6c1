'use strict';
// The Node code blocks of the documentation run as written: every ```js block of README.md (its
// Node quick start) and of docs/node.md (the first one is the guide's quick start). Each runs in
// its own process from a file inside the package, so `require('circuit-core')` resolves to this
// package.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const DOC = path.join(__dirname, '..', '..', 'docs', 'node.md');
const README = path.join(__dirname, '..', '..', 'README.md');
const jsBlocks = (file) => [...fs.readFileSync(file, 'utf8').matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
const blocks = jsBlocks(DOC);

function run(code, index) {
  const file = path.join(__dirname, `.docs-block-${process.pid}-${index}.js`);
  fs.writeFileSync(file, code);
  try {
    const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    if (result.error) throw result.error;
    return result;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

describe('README.md', () => {
  const readme = jsBlocks(README);
  test('has a Node quick start', () => {
    assert.ok(readme.length >= 1, 'no ```js block in README.md');
  });
  readme.forEach((code, i) => {
    test(`README js block ${i + 1} runs`, () => {
      const result = run(code, `readme-${i}`);
      assert.equal(result.status, 0, `${code}\n${result.stderr}`);
      assert.match(result.stdout, /\S/, 'the snippet prints its result');
    });
  });
});

describe('docs/node.md', () => {
  test('has a quick start and more examples', () => {
    assert.ok(blocks.length >= 4, `${blocks.length} js blocks`);
  });

  test('the quick start (first js block) runs and prints what it says', () => {
    const result = run(blocks[0], 0);
    assert.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines[0], "{ sku: 'apple', stock: 7 }");
    assert.ok(lines.includes('inventory: closed -> open (failure_threshold)'), result.stdout);
    assert.ok(lines.includes('ECIRCUITOPEN: open, retry in 10 s'), result.stdout);
    assert.equal(lines.at(-1), 'open 3');
  });

  blocks.slice(1).forEach((code, i) => {
    test(`js block ${i + 2} runs`, () => {
      const result = run(code, i + 1);
      assert.equal(result.status, 0, `${code}\n${result.stderr}`);
    });
  });
});
