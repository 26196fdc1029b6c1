'use strict';
// A small parser of the Prometheus text exposition format 0.0.4, for the tests: the samples as
// canonical strings (`name{a="x",b="y"} value`, labels sorted, values as JavaScript prints the
// number), and each family's HELP and TYPE. It refuses what it does not understand, loudly.

/** One label set `{a="x",b="y"}` starting at `text[i] === '{'`: [labels, index after '}']. */
function parseLabels(text, i, line) {
  const labels = [];
  i++;
  while (text[i] !== '}') {
    const name = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (name === null || text[i + name[0].length] !== '=' || text[i + name[0].length + 1] !== '"') {
      throw new Error(`bad label in line: ${line}`);
    }
    i += name[0].length + 2;
    let value = '';
    for (;;) {
      const c = text[i++];
      if (c === undefined) throw new Error(`unterminated label value in line: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        value += e === 'n' ? '\n' : e;
      } else {
        value += c;
      }
    }
    labels.push([name[0], value]);
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw new Error(`bad label list in line: ${line}`);
  }
  return [labels, i + 1];
}

function parseValue(text, line) {
  if (text === 'NaN') return Number.NaN;
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) throw new Error(`bad value in line: ${line}`);
  return value;
}

/** `{ samples: string[] (sorted), help: Map, type: Map }` of an exposition. */
function parseExposition(text) {
  const samples = [];
  const help = new Map();
  const type = new Map();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      (meta[1] === 'HELP' ? help : type).set(meta[2], meta[3]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (name === null) throw new Error(`bad sample line: ${line}`);
    let i = name[0].length;
    let labels = [];
    if (line[i] === '{') [labels, i] = parseLabels(line, i, line);
    if (line[i] !== ' ') throw new Error(`bad sample line: ${line}`);
    const [valueText] = line.slice(i + 1).split(' '); // a timestamp may follow
    const value = parseValue(valueText, line);
    labels.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const rendered = labels.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',');
    samples.push(`${name[0]}{${rendered}} ${String(value)}`);
  }
  samples.sort();
  return { samples, help, type };
}

module.exports = { parseExposition };
