// Offline guard for pytest-pyodide's Node runner, preloaded with `node --require` (see
// pyodide_runners.configure_node): hand-made because Node has no proxy setting that Pyodide's
// fetches obey, so the guard sits on fetch itself.
//
// Every fetch (Pyodide's package loader, pyodide.http.pyfetch, micropip) to a host other than
// 127.0.0.1/localhost throws and is recorded in globalThis.webinferBlockedRequests, which
// pytest-pyodide hands into its driver's sandbox; NodeRunner reads and clears it after each
// call and fails the test if it is not empty. data: and blob: URLs never leave the process.
"use strict";

const realFetch = globalThis.fetch;
const LOCAL_HOSTS = new Set(["127.0.0.1", "localhost"]);
globalThis.webinferBlockedRequests = [];

globalThis.fetch = async function offlineFetch(input, init) {
  const href = String(input instanceof Request ? input.url : input);
  let url = null;
  try {
    url = new URL(href);
  } catch {
    return realFetch(input, init); // not a URL: fetch rejects it itself, nothing is sent
  }
  if (url.protocol === "data:" || url.protocol === "blob:" || LOCAL_HOSTS.has(url.hostname)) {
    return realFetch(input, init);
  }
  globalThis.webinferBlockedRequests.push(href);
  throw new TypeError(`offline test: request to ${href} blocked (only 127.0.0.1/localhost allowed)`);
};
