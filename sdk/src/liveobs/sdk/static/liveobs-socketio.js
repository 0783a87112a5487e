/*! liveobs-socketio.js: liveobs for the socket.io client (load it after socket.io.js and liveobs.js).
 * `liveobs.io(url, options)` is `io(url, options)` over a WebSocket named by the browser
 * (`lo_cid`, so the server's connection id is the one in browser reports); each emit's
 * first object argument gets the `lo` envelope and an acknowledgement is asked for,
 * whose `lo` object answers the event (a failure names its event: `liveobs:error`).
 */
(function (global) {
  "use strict";

  var liveobs = global.liveobs;
  if (!global.io || !liveobs) {
    if (global.console) global.console.warn("liveobs-socketio.js: load it after socket.io.js and liveobs.js");
    return;
  }

  // Without the page's session id liveobs.js drops its reports: say so once, where a developer looks.
  if (!liveobs.ids.session_id && global.console) {
    global.console.warn("liveobs: this page has no session id (meta liveobs-session-id), so no browser report " +
      "will be sent; see the liveobs adapter's session_cookie option");
  }

  function answered(callback) {
    return function (first) {
      if (first && typeof first === "object" && first.lo) {
        liveobs.handleReply({ lo: first.lo });
        var rest = {};
        for (var k in first) if (k !== "lo" && Object.prototype.hasOwnProperty.call(first, k)) rest[k] = first[k];
        arguments[0] = rest;
      }
      if (callback) return callback.apply(this, arguments);
    };
  }

  liveobs.io = function (url, options) {
    var opts = {};
    for (var k in options || {}) if (Object.prototype.hasOwnProperty.call(options, k)) opts[k] = options[k];
    var cid = liveobs.uuid7().replace(/-/g, "");
    var query = {};
    for (var q in opts.query || {}) if (Object.prototype.hasOwnProperty.call(opts.query, q)) query[q] = opts.query[q];
    query.lo_cid = cid;
    opts.query = query;
    opts.transports = opts.transports || ["websocket"];  // one socket the server's connection span follows
    liveobs.connecting();
    var socket = global.io(url, opts);
    socket.on("connect", function () { liveobs.connected(cid); });
    var emit = socket.emit;
    socket.emit = function (name) {
      var args = Array.prototype.slice.call(arguments, 1);
      var callback = typeof args[args.length - 1] === "function" ? args.pop() : null;
      var data = args.length && args[0] && typeof args[0] === "object" && !Array.isArray(args[0]) ? args[0] : null;
      if (args.length && !data) return emit.apply(socket, arguments);  // not an object payload: sent as it is
      var body = {};
      for (var d in data || {}) if (Object.prototype.hasOwnProperty.call(data, d)) body[d] = data[d];
      body.lo = liveobs.beginEvent(name);
      args[0] = body;
      args.push(answered(callback));
      return emit.apply(socket, [name].concat(args));
    };
    return socket;
  };
})(typeof window !== "undefined" ? window : this);
