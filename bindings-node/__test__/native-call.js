'use strict';
// Calls a fast-path function of the addon the way lib/breaker.js does: the breaker id and the
// arguments go into the thread's call frame, the result comes back from it (a permit's parts as
// an array, as lib/breaker.js builds it). Not a test file: the protocol and package tests use it.

const native = require('../binding.js');
const P = require('../lib/protocol.js');

const frame = native.frameView();

/** `fast(name, id, ...args)`: the result of `native[name]()` with `id` and `args` in the frame. */
function fast(name, id, ...args) {
  frame.fill(Number.NaN);
  if (id !== undefined) frame[P.FRAME_BREAKER] = id;
  args.forEach((arg, i) => {
    frame[P.FRAME_ARGS + i] = arg;
  });
  const returned = native[name]();
  if (returned !== undefined) return returned;
  const r = frame[P.FRAME_RESULT];
  if (name === 'fastAllow' && r === P.PERMIT_PARTS) return Array.from(frame.subarray(P.FRAME_ARGS, P.FRAME_ARGS + P.PARTS));
  return r;
}

/** `fastAllow` with no successes to hand over. */
const allow = (id) => fast('fastAllow', id, 0);

/** A function reading breaker `id`'s trivial-generation cell, live (its page is `trivialView`). */
function trivialCell(id) {
  const page = fast('trivialView', id);
  return () => page[id % P.TRIVIAL_PAGE_CELLS];
}

module.exports = { fast, allow, trivialCell, frame };
