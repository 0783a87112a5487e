"""Adapters for live frameworks that do not speak the ``lo`` envelope themselves.

Each adapter is a module of its own, imported only by the apps that use it, so
the SDK installs none of these frameworks (``pip install "liveobs-sdk[pyview]"``
adds one): :mod:`liveobs.sdk.adapters.htmx` for the htmx ws extension (HTML
over WebSocket), :mod:`liveobs.sdk.adapters.phoenix` for the Phoenix LiveView
protocol (pyview, with :mod:`liveobs.sdk.adapters.pyview` for pyview's own
timings), :mod:`liveobs.sdk.adapters.channels` for Django Channels consumers,
:mod:`liveobs.sdk.adapters.socketio` for python-socketio and the socket.io client,
:mod:`liveobs.sdk.adapters.nicegui` for NiceGUI's UI events over its socket.io connection.
Every adapter uses the public SDK only.
"""
