/*! liveobs-htmx.js: liveobs for the htmx ws extension (load it after htmx, ws.js and liveobs.js).
 * Each ws-send gets the `lo` envelope; the server's reply marker (an HTML comment,
 * `<!--lo:{...}-->`, which htmx never swaps) or a JSON error reply answers the event,
 * so successful actions are never reported as timeouts and a failure names its event.
 * The socket URL carries `lo_cid`, so the server's connection id is the browser's.
 */
(function (global) {
  "use strict";

  var htmx = global.htmx;
  var liveobs = global.liveobs;
  var doc = global.document;
  if (!htmx || !liveobs) {
    if (global.console) global.console.warn("liveobs-htmx.js: load it after htmx, its ws extension and liveobs.js");
    return;
  }

  // Without the page's session id liveobs.js drops its reports: say so once, where a developer looks.
  if (!liveobs.ids.session_id && global.console) {
    global.console.warn("liveobs: this page has no session id (meta liveobs-session-id), so no browser report " +
      "will be sent; see the liveobs adapter's session_cookie option");
  }

  var MARKER = /<!--lo:(\{[^]*?\})-->/g;

  // The socket the ws extension opens: named by the browser, timed from here to its open.
  var create = htmx.createWebSocket || function (url) {
    var socket = new WebSocket(url, []);
    socket.binaryType = htmx.config.wsBinaryType;
    return socket;
  };
  htmx.createWebSocket = function (url) {
    var cid = liveobs.uuid7().replace(/-/g, "");
    liveobs.connecting();
    var socket = create(url + (url.indexOf("?") < 0 ? "?" : "&") + "lo_cid=" + cid);
    socket.addEventListener("open", function () { liveobs.connected(cid); });
    return socket;
  };

  function eventName(elt, headers) {
    return (headers && headers["HX-Trigger-Name"]) || (elt && (elt.getAttribute("name") || elt.id)) ||
      (headers && headers["HX-Trigger"]) || "ws-send";
  }

  // The message htmx would send, with the envelope added (another listener's body is kept).
  doc.addEventListener("htmx:wsConfigSend", function (ev) {
    var d = ev.detail;
    var body = null;
    if (typeof d.messageBody === "string") {
      try { body = JSON.parse(d.messageBody); } catch (e) { return; }
      if (!body || typeof body !== "object" || Array.isArray(body)) return;
    } else if (d.messageBody === undefined) {
      body = {};
      for (var k in d.parameters) if (Object.prototype.hasOwnProperty.call(d.parameters, k)) body[k] = d.parameters[k];
      if (d.headers) body.HEADERS = d.headers;
    } else {
      return;
    }
    body.lo = liveobs.beginEvent(eventName(ev.target, d.headers));
    d.messageBody = JSON.stringify(body);
  });

  // Replies: markers inside HTML (left for htmx, which ignores comments), or a JSON
  // message with `lo` (an error reply), which is not HTML and is not swapped.
  doc.addEventListener("htmx:wsBeforeMessage", function (ev) {
    var message = ev.detail.message;
    if (typeof message !== "string") return;
    var text = message.replace(/^\s+|\s+$/g, "");
    if (text.charAt(0) === "{" && text.charAt(text.length - 1) === "}") {
      var decoded = null;
      try { decoded = JSON.parse(text); } catch (e) { decoded = null; }
      if (decoded && decoded.lo) {
        liveobs.handleReply(decoded);
        ev.preventDefault();
        return;
      }
    }
    if (message.indexOf("<!--lo:") < 0) return;
    var found;
    MARKER.lastIndex = 0;
    while ((found = MARKER.exec(message)) !== null) {
      try { liveobs.handleReply({ lo: JSON.parse(found[1]) }); } catch (e) { /* a marker that is not ours */ }
    }
  });
})(window);
