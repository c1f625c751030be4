'use strict';
// What the CLI bundle takes from undici, instead of undici's index.js (see bundle-cli.mjs).
// index.js also loads fetch, WebSocket, EventSource, the cache and mock agents and sets up a
// global dispatcher: about 60 ms of a short command's start-up that gantry never uses.
// gantry uses the dispatchers, their request() and the connector; the request() API is
// mixed into Dispatcher.prototype here exactly as index.js does it.
const Dispatcher = require('undici/lib/dispatcher/dispatcher.js');
const api = require('undici/lib/api/index.js');

Object.assign(Dispatcher.prototype, api);

module.exports = {
  Dispatcher,
  Pool: require('undici/lib/dispatcher/pool.js'),
  ProxyAgent: require('undici/lib/dispatcher/proxy-agent.js'),
  buildConnector: require('undici/lib/core/connect.js'),
};
