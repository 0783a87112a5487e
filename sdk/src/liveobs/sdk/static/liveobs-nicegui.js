/*! liveobs-nicegui.js: liveobs for NiceGUI pages (its head HTML, before NiceGUI's own scripts).
 * NiceGUI's client connects with the page's `io(...)` and sends each UI event as a socket.io
 * "event" message. This script names that connection (`lo_cid` in its query, so browser
 * reports carry the server's connection id), puts the `lo` envelope in each "event" message
 * and asks for an acknowledgement, whose `lo` object answers the event (`liveobs:error` on failure).
 * NiceGUI's other messages (handshake, ack, log, JavaScript results) go out as they are.
 */
(function (global) {
  "use strict";

  var liveobs = global.liveobs;
  if (!liveobs) {
    if (global.console) global.console.warn("liveobs-nicegui.js: load it after liveobs.js");
    return;
  }
  if (!liveobs.ids.session_id && global.console) {
    global.console.warn("liveobs: this page has no session id (meta liveobs-session-id), so no browser report " +
      "will be sent; see the liveobs adapter's session_cookie option");
  }

  // The element's event type ("click", "update:modelValue"): the browser's name for the action.
  function eventName(msg) {
    try {
      var events = global.eval("mounted_app").elements[msg.id].events;  // nicegui.js's own global binding
      for (var i = 0; i < events.length; i++) if (events[i].listener_id === msg.listener_id) return events[i].type;
    } catch (e) { /* an element rendered outside NiceGUI's app */ }
    return "event";
  }

  function observe(socket, cid) {
    socket.on("connect", function () { liveobs.connected(cid); });
    var emit = socket.emit;
    socket.emit = function (name, msg) {
      if (name !== "event" || arguments.length !== 2 || !msg || typeof msg !== "object") {
        return emit.apply(socket, arguments);
      }
      var body = {};
      for (var k in msg) if (Object.prototype.hasOwnProperty.call(msg, k)) body[k] = msg[k];
      body.lo = liveobs.beginEvent(eventName(msg));
      return emit.call(socket, name, body, function (answer) {
        if (answer && typeof answer === "object" && answer.lo) liveobs.handleReply({ lo: answer.lo });
      });
    };
    return socket;
  }

  function wrap(io) {
    if (typeof io !== "function" || io.__liveobs) return io;
    var wrapped = function (url, options) {
      var opts = options || {};
      var cid = liveobs.uuid7().replace(/-/g, "");
      opts.query = opts.query || {};
      opts.query.lo_cid = cid;  // NiceGUI keeps this object for its reconnects: they keep the name
      liveobs.connecting();
      return observe(io(url, opts), cid);
    };
    for (var key in io) if (Object.prototype.hasOwnProperty.call(io, key)) wrapped[key] = io[key];
    wrapped.__liveobs = true;
    return wrapped;
  }

  // socket.io.js loads after this script (NiceGUI puts it in the body): wrap `io` when it is defined.
  if (global.io) {
    global.io = wrap(global.io);
  } else {
    var current;
    Object.defineProperty(global, "io", {
      configurable: true,
      enumerable: true,
      get: function () { return current; },
      set: function (value) { current = wrap(value); },
    });
  }
})(typeof window !== "undefined" ? window : this);
