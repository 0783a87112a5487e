"""liveobs evidence side: collector, store, correlation queries, gates."""

__all__: list[str] = []
