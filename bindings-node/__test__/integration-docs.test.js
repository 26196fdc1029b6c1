'use strict';
// The example of each Node integration page (docs/integrations/node-*.md) runs as written, in its
// own process from a file inside the package (so `require('circuit-core/...')` resolves to this
// package), and prints what its comments say.

const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const DOCS = path.join(__dirname, '..', '..', 'docs', 'integrations');
const jsBlocks = (file) => [...fs.readFileSync(file, 'utf8').matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);

function run(code, name) {
  const file = path.join(__dirname, `.integration-${process.pid}-${name}.js`);
  fs.writeFileSync(file, code);
  try {
    const result = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
    if (result.error) throw result.error;
    return result;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** Page -> the lines its example prints (`<port>` stands for any port). */
const EXPECTED = {
  'node-fetch.md': ['503', '503', 'ECIRCUITOPEN http://127.0.0.1:<port> 30'],
  'node-undici.md': ['502', '502', 'ECIRCUITOPEN http://127.0.0.1:<port>'],
  'node-axios.md': ['503', '503', 'ECIRCUITOPEN http://127.0.0.1:<port>'],
};

describe('docs/integrations/node-*.md', () => {
  for (const [page, expected] of Object.entries(EXPECTED)) {
    test(`${page}: the example runs and prints what it says`, () => {
      const blocks = jsBlocks(path.join(DOCS, page));
      assert.equal(blocks.length, 1, `${page} has one js block`);
      const result = run(blocks[0], page.replace(/\W/g, '-'));
      assert.equal(result.status, 0, result.stderr);
      const lines = result.stdout.trim().split('\n').map((l) => l.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:<port>'));
      assert.deepEqual(lines, expected);
    });
  }
});
