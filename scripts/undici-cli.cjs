'use strict';
// What the CLI bundle takes from undici, instead of undici's index.js (see bundle-cli.mjs).
// index.js also loads fetch, WebSocket, EventSource, the cache and mock agents and sets up a
// global dispatcher: about 60 ms of a short command's start-up that gantry never uses.
// gantry uses the dispatchers, their request() and the connector; the request() API is
// mixed into Dispatcher.prototype here exactly as index.js does it.
//
// These lib/ paths are not undici's public API, so package.json pins undici to one exact
// version (never a range) and test/unit/undici-cli-shim.test.ts fails on drift: a version
// other than the pin, a path that is gone, or a value that is not undici's own object.
// Upgrading undici means changing the pin and running that test. The library itself
// (dist/index.js) imports only undici's public entry.
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js');
const api = require('undici/lib/api/index.js');

Object.assign(Dispatcher.prototype, api);

module.exports = {
  Dispatcher,
  Pool: require('undici/lib/dispatcher/pool.js'),
  ProxyAgent: require('undici/lib/dispatcher/proxy-agent.js'),
  buildConnector: require('undici/lib/core/connect.js'),
};
