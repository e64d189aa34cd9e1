// Test instrumentation, injected before the site's own scripts (Playwright add_init_script).
//
// window.__rec.lines: every distinct text of #progress-label and #status, in order (the stages the
// user saw). window.__rec.frames: requestAnimationFrame timestamps while window.__rec.measuring is
// true, so a test can compute the main thread's frame gaps during a decode. window.__rec.csp: the
// document's Content-Security-Policy violations (any page; workers report to themselves: the chat
// page forwards its worker's into window.webinferPage.cspViolations).
// window.__rec.states: every body[data-state] in order, so a test sees a state however briefly it lasted.
window.__rec = { lines: [], frames: [], measuring: false, csp: [], states: [] };
document.addEventListener("securitypolicyviolation", (e) => window.__rec.csp.push(
  { directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber }));

function watch(id) {
  const el = document.getElementById(id);
  if (!el) return;
  const note = () => {
    const text = `${id}: ${el.textContent}`;
    if (window.__rec.lines[window.__rec.lines.length - 1] !== text) window.__rec.lines.push(text);
  };
  note();
  new MutationObserver(note).observe(el, { childList: true, characterData: true, subtree: true });
}

document.addEventListener("DOMContentLoaded", () => {
  ["progress-label", "status"].forEach(watch);
  const body = document.body;
  const note = () => { const s = body.dataset.state; if (s && window.__rec.states.at(-1) !== s) window.__rec.states.push(s); };
  note();
  new MutationObserver(note).observe(body, { attributes: true, attributeFilter: ["data-state"] });
});

function frame(t) {
  if (window.__rec.measuring) window.__rec.frames.push(t);
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
