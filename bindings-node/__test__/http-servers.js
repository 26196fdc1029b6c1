'use strict';
// Real HTTP servers on loopback for the integration tests, each started by the test that uses it
// (node:http on 127.0.0.1, an ephemeral port), and a port with nothing listening.

const http = require('node:http');
const net = require('node:net');

/** Starts `handler` on 127.0.0.1:0: `{ url, origin, server, close() }`. */
async function serve(handler) {
  const server = http.createServer(handler);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    url: `${origin}/`,
    server,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A server that answers `/<status>` with that status (and `/` with 200), with `headers`. */
function statusServer(headers = {}) {
  return serve((req, res) => {
    const status = Number(req.url.slice(1)) || 200;
    res.writeHead(status, headers).end(`status ${status}`);
  });
}

/** A server that reads the request and never answers (until closed). */
function hangingServer() {
  return serve(() => {});
}

/** An origin with nothing listening: a port bound then released (connections are refused). */
async function refusedOrigin() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return `http://127.0.0.1:${port}`;
}

module.exports = { serve, statusServer, hangingServer, refusedOrigin };
