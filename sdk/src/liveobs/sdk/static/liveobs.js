/*! liveobs.js: ties each browser action of a live page to the server's handling of it.
 * Dependency-free. Reads the page's ids from its head tags, mints an event id at
 * the user action, fills the `lo` envelope, measures click-to-patch latency,
 * connect time and reconnects, and reports failures to a same-origin endpoint.
 */
(function (global) {
  "use strict";

  var doc = global.document;
  var perf = global.performance;
  var script = doc.currentScript;

  function data(name, fallback) {
    var value = script && script.getAttribute("data-" + name);
    return value === null || value === undefined || value === "" ? fallback : value;
  }

  function meta(name) {
    var el = doc.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : null;
  }

  var config = {
    reportUrl: data("report-url", "/_liveobs/report"),
    timeoutMs: +data("timeout-ms", 10000),
    reportsPerMinute: +data("reports-per-minute", 30),
    flushMs: +data("flush-ms", 2000),
    maxBatch: 20,
    maxMessage: 500
  };

  var ids = {
    session_id: meta("liveobs-session-id"),
    route_id: meta("liveobs-route-id"),
    request_id: meta("liveobs-request-id"),
    release: meta("liveobs-release"),
    traceparent: meta("traceparent")
  };

  var HEX = [];
  for (var h = 0; h < 256; h++) HEX.push((h < 16 ? "0" : "") + h.toString(16));

  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += HEX[bytes[i]];
    return out;
  }

  // UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, variant 10, random rest.
  function uuid7() {
    var b = new Uint8Array(16);
    global.crypto.getRandomValues(b);
    var ms = Date.now();
    for (var i = 5; i >= 0; i--) { b[i] = ms % 256; ms = Math.floor(ms / 256); }
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = hex(b);
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  var state = {
    connectionId: null,
    seq: 0,
    pending: {},
    lastError: null,
    reconnects: 0,
    connectStart: null,
    connectMs: null
  };

  // --- reporting: batched, rate-limited (token bucket), same origin only ------
  var queue = [];
  var dropped = 0;
  var tokens = config.reportsPerMinute;
  var refilled = Date.now();
  var flushTimer = null;
  var pausedUntil = 0;
  var warnedNoSession = false;

  function take() {
    var now = Date.now();
    tokens = Math.min(config.reportsPerMinute, tokens + (now - refilled) * config.reportsPerMinute / 60000);
    refilled = now;
    if (tokens < 1) return false;
    tokens -= 1;
    return true;
  }

  function bounded(text) {
    text = text === undefined || text === null ? "" : String(text);
    return text.length > config.maxMessage ? text.slice(0, config.maxMessage) : text;
  }

  function report(type, fields) {
    if (!take()) { dropped++; return; }
    var item = { type: type, time: Date.now(), connection_id: state.connectionId };
    for (var k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) item[k] = fields[k];
    queue.push(item);
    if (type === "browser.error" || queue.length >= config.maxBatch) flush();
    else if (!flushTimer) flushTimer = setTimeout(flush, config.flushMs);
  }

  function body() {
    var batch = queue.splice(0, config.maxBatch);
    var payload = {
      session_id: ids.session_id, route_id: ids.route_id, request_id: ids.request_id,
      release: ids.release, dropped: dropped, reports: batch
    };
    dropped = 0;
    return JSON.stringify(payload);
  }

  function answered(response) {
    if (response.status === 429) {
      pausedUntil = Date.now() + 1000 * (+response.headers.get("Retry-After") || 60);
    }
  }

  function flush(beacon) {
    if (flushTimer) { clearTimeout(flushTimer); flushTimer = null; }
    // Without the page's session id, or while the endpoint asked to wait, nothing would be heard.
    if (!ids.session_id || Date.now() < pausedUntil) {
      // Say once, where a developer looks, why this page's reports never arrive.
      if (!ids.session_id && queue.length && !warnedNoSession && global.console) {
        warnedNoSession = true;
        global.console.warn("liveobs: this page has no session id (meta liveobs-session-id), so no browser " +
          "report will be sent; give LiveObsMiddleware a session= and put head_tags() in <head>");
      }
      dropped += queue.length;
      queue.length = 0;
      return;
    }
    while (queue.length) {
      var text = body();
      if (beacon && global.navigator.sendBeacon) {
        global.navigator.sendBeacon(config.reportUrl, new Blob([text], { type: "application/json" }));
      } else if (global.fetch) {
        global.fetch(config.reportUrl, {
          method: "POST", body: text, keepalive: true, credentials: "same-origin",
          headers: { "Content-Type": "application/json" }
        }).then(answered, function () { /* reporting must never break the page */ });
      }
    }
  }

  // Every failure has a reference the page can show: the event id, or a fresh id for
  // failures outside any event (a thrown error, a rejected promise, a give-up).
  function fail(kind, eventId, fields) {
    eventId = eventId || uuid7();
    state.lastError = eventId;
    var detail = { error_kind: kind, event_id: eventId };
    for (var k in fields) if (Object.prototype.hasOwnProperty.call(fields, k)) detail[k] = fields[k];
    report("browser.error", detail);
    doc.dispatchEvent(new CustomEvent("liveobs:error", { detail: { reference: eventId, error_class: detail.error_class || null, kind: kind } }));
  }

  // --- the hook API any live client can call ----------------------------------
  function beginEvent(name) {
    var eventId = uuid7();
    var lo = {
      event_id: eventId, event_name: name, seq: ++state.seq, session_id: ids.session_id,
      connection_id: state.connectionId, route_id: ids.route_id, client_time: Date.now()
    };
    if (ids.traceparent) lo.traceparent = ids.traceparent;
    state.pending[eventId] = { name: name, seq: lo.seq, start: perf.now() };
    if (!sweepTimer) sweepTimer = setTimeout(sweep, config.timeoutMs);
    return lo;
  }

  // One timer for all pending events (not one per event): fails the overdue ones
  // and sleeps until the next deadline while any remain.
  var sweepTimer = null;

  function sweep() {
    sweepTimer = null;
    var now = perf.now();
    var next = Infinity;
    for (var eventId in state.pending) {
      var entry = state.pending[eventId];
      var due = entry.start + config.timeoutMs;
      if (due <= now) {
        delete state.pending[eventId];
        fail("timeout", eventId, { event_name: entry.name, seq: entry.seq, latency_ms: Math.round(now - entry.start) });
      } else if (due < next) {
        next = due;
      }
    }
    if (next !== Infinity) sweepTimer = setTimeout(sweep, next - now + 1);
  }

  function wrap(payload, name) {
    var out = {};
    for (var k in payload) if (Object.prototype.hasOwnProperty.call(payload, k)) out[k] = payload[k];
    out.lo = beginEvent(name);
    return out;
  }

  // Call with each decoded server message; returns the reply's `lo` when it answered an event.
  function handleReply(message) {
    var lo = message && message.lo;
    if (!lo || typeof lo.event_id !== "string") return null;
    var entry = state.pending[lo.event_id];
    if (!entry) return null;
    delete state.pending[lo.event_id];
    var latency = Math.round((perf.now() - entry.start) * 10) / 10;
    if (lo.ok === false) {
      fail("reply_error", lo.event_id, {
        event_name: entry.name, seq: entry.seq, latency_ms: latency,
        error_class: lo.error_class || null, error_code: lo.error_code || null,
        trace_id: lo.trace_id || null, span_id: lo.span_id || null
      });
    } else {
      report("browser.action", {
        event_id: lo.event_id, event_name: entry.name, seq: entry.seq, latency_ms: latency,
        patch_bytes: lo.patch_bytes === undefined ? null : lo.patch_bytes,
        trace_id: lo.trace_id || null, span_id: lo.span_id || null,
        connect_ms: state.connectMs, reconnects: state.reconnects
      });
    }
    return lo;
  }

  function connecting() {
    state.connectStart = perf.now();
  }

  function connected(connectionId) {
    if (state.connectionId !== null) state.reconnects++;
    state.connectionId = connectionId || uuid7().replace(/-/g, "");
    state.seq = 0;
    state.connectMs = state.connectStart === null ? null : Math.round(perf.now() - state.connectStart);
    return state.connectionId;
  }

  function gaveUp(attempts) {
    fail("reconnect_give_up", null, { reconnects: state.reconnects, attempts: attempts });
  }

  // --- a ready adapter for a plain WebSocket -----------------------------------
  function connect(url, options) {
    options = options || {};
    var maxAttempts = options.maxAttempts || 8;
    var onMessage = options.onMessage || function () {};
    var attempts = 0;
    var socket = null;
    var closed = false;
    var outbox = [];

    function open() {
      connecting();
      var cid = uuid7().replace(/-/g, "");
      // The server adopts this id at connect, so its connection span and our reports agree.
      socket = new WebSocket(url + (url.indexOf("?") < 0 ? "?" : "&") + "lo_cid=" + cid);
      socket.onopen = function () {
        attempts = 0;
        connected(cid);
        while (outbox.length) socket.send(outbox.shift());
        if (options.onOpen) options.onOpen();
      };
      socket.onmessage = function (ev) {
        var message;
        try { message = JSON.parse(ev.data); } catch (e) { return; }
        var reply = handleReply(message);
        onMessage(message, reply);
      };
      socket.onclose = function () {
        if (closed) return;
        if (++attempts > maxAttempts) { gaveUp(attempts - 1); return; }
        setTimeout(open, Math.min(10000, (options.baseDelayMs || 200) * Math.pow(2, attempts)));
      };
    }

    open();
    return {
      send: function (name, payload) {
        var message = wrap(payload || {}, name);
        message.event = message.event || name;
        var text = JSON.stringify(message);
        if (socket && socket.readyState === 1) socket.send(text);
        else outbox.push(text);
        return message.lo.event_id;
      },
      close: function () { closed = true; if (socket) socket.close(); }
    };
  }

  global.addEventListener("error", function (ev) {
    var err = ev.error;
    fail("error", null, { error_class: (err && err.name) || "Error", message: bounded(ev.message) });
  });
  global.addEventListener("unhandledrejection", function (ev) {
    var reason = ev.reason;
    fail("unhandledrejection", null, {
      error_class: (reason && reason.name) || "UnhandledRejection",
      message: bounded(reason && reason.message ? reason.message : reason)
    });
  });
  global.addEventListener("pagehide", function () { flush(true); });

  global.liveobs = {
    version: "0.1.0",
    ids: ids,
    uuid7: uuid7,
    beginEvent: beginEvent,
    wrap: wrap,
    handleReply: handleReply,
    connecting: connecting,
    connected: connected,
    gaveUp: gaveUp,
    connect: connect,
    report: report,
    flush: flush,
    lastErrorReference: function () { return state.lastError; }
  };
})(window);
