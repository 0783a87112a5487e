"""Kukulkan: a small live board app, the first adopter of liveobs.

A server-rendered board kept alive over a WebSocket: sign-in with two scopes,
cards added, moved and archived as live events, a stream of updates, uploads
with a content scan, and one action with a real bug.
"""

__version__ = "1.4.0"  # the release this source tree builds; releases/1.3.2.patch makes 1.3.2
