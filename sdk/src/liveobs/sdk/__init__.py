"""liveobs in-app instrumentation for live web apps."""

__all__: list[str] = []
