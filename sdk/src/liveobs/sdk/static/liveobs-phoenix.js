/*! liveobs-phoenix.js: liveobs for the Phoenix LiveView JavaScript client (pyview and any server
 * speaking its protocol). Load it after liveobs.js and before the page creates its LiveSocket.
 * The socket's `event` pushes carry the `lo` envelope in their payload, the socket URL carries
 * `lo_cid`, and each `phx_reply` with an `lo` object answers its event. Only Phoenix sockets
 * (a `/websocket` URL with a `vsn` parameter) are touched; templates and hooks stay as they are.
 */
(function (global) {
  "use strict";

  var liveobs = global.liveobs;
  var Native = global.WebSocket;
  if (!liveobs || !Native) {
    if (global.console) global.console.warn("liveobs-phoenix.js: load it after liveobs.js");
    return;
  }

  // Without the page's session id liveobs.js drops its reports: say so once, where a developer looks.
  if (!liveobs.ids.session_id && global.console) {
    global.console.warn("liveobs: this page has no session id (meta liveobs-session-id), so no browser report " +
      "will be sent; see the liveobs adapter's session_cookie option");
  }

  function isPhoenix(url) {
    var path = String(url).split("?")[0];
    return /\/websocket$/.test(path) && /[?&]vsn=/.test(String(url));
  }

  function frame(data) {
    if (typeof data !== "string" || data.charAt(0) !== "[") return null;
    try {
      var decoded = JSON.parse(data);
      return Array.isArray(decoded) && decoded.length === 5 ? decoded : null;
    } catch (e) {
      return null;
    }
  }

  function LiveObsSocket(url, protocols) {
    if (!isPhoenix(url)) return protocols === undefined ? new Native(url) : new Native(url, protocols);
    var cid = liveobs.uuid7().replace(/-/g, "");
    liveobs.connecting();
    url = String(url) + (String(url).indexOf("?") < 0 ? "?" : "&") + "lo_cid=" + cid;
    var socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    var send = socket.send;
    socket.send = function (data) {
      var message = frame(data);
      var payload = message && message[3] === "event" ? message[4] : null;
      if (payload && typeof payload === "object" && !Array.isArray(payload)) {
        payload.lo = liveobs.beginEvent(typeof payload.event === "string" ? payload.event : "event");
        data = JSON.stringify(message);
      }
      return send.call(socket, data);
    };
    socket.addEventListener("open", function () { liveobs.connected(cid); });
    socket.addEventListener("message", function (ev) {
      var message = frame(ev.data);
      var reply = message && message[3] === "phx_reply" ? message[4] : null;
      if (reply && reply.response && reply.response.lo) liveobs.handleReply({ lo: reply.response.lo });
    });
    return socket;
  }

  LiveObsSocket.prototype = Native.prototype;
  LiveObsSocket.CONNECTING = Native.CONNECTING;
  LiveObsSocket.OPEN = Native.OPEN;
  LiveObsSocket.CLOSING = Native.CLOSING;
  LiveObsSocket.CLOSED = Native.CLOSED;
  global.WebSocket = LiveObsSocket;
})(window);
