"""The board: cards in three columns, changed only through its methods.

One action, sorting a column by due date, has a real bug: cards without a due
date cannot be compared with dated ones, and the sort raises ``TypeError``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Final

COLUMNS: Final = ("todo", "doing", "done")
MAX_TITLE: Final = 120


class BoardError(ValueError):
    """A request the board refuses: an unknown card or column, a bad title."""

    code = "invalid"


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    size: int
    content_type: str


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    title: str
    column: str
    due: date | None = None
    archived: bool = False
    attachments: tuple[Attachment, ...] = ()


@dataclass
class Board:
    """The cards of one board, in order; every change bumps :attr:`version`."""

    name: str = "Release board"
    version: int = 0
    _cards: dict[str, Card] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def seeded(cls) -> Board:
        """The board a fresh app starts with; one card has no due date."""
        board = cls()
        board.add("Write the release notes", "todo", date(2026, 12, 4))
        board.add("Triage the bug reports", "todo")
        board.add("Rotate the session key", "doing", date(2026, 12, 1))
        board.add("Ship the readiness check", "done", date(2026, 11, 20))
        return board

    def cards(self, column: str | None = None) -> list[Card]:
        """Live (not archived) cards, optionally of one column, in insertion order."""
        return [c for c in self._cards.values() if not c.archived and (column is None or c.column == column)]

    def get(self, card_id: object) -> Card:
        card = self._cards.get(card_id) if isinstance(card_id, str) else None
        if card is None or card.archived:
            raise BoardError("no such card")
        return card

    def add(self, title: object, column: object = "todo", due: date | None = None) -> Card:
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            raise BoardError(f"a title is 1 to {MAX_TITLE} characters")
        column = _column(column)
        with self._lock:
            card = Card(id=f"c{next(self._ids)}", title=title.strip(), column=column, due=due)
            self._cards[card.id] = card
            self.version += 1
        return card

    def move(self, card_id: object, column: object) -> Card:
        return self._update(self.get(card_id), column=_column(column))

    def archive(self, card_id: object) -> Card:
        return self._update(self.get(card_id), archived=True)

    def attach(self, card_id: object, attachment: Attachment) -> Card:
        card = self.get(card_id)
        return self._update(card, attachments=(*card.attachments, attachment))

    def sort_by_due(self, column: object) -> list[Card]:
        """The column's cards by due date, soonest first, stored in that order."""
        column = _column(column)
        ordered = sorted(self.cards(column), key=lambda card: card.due)  # type: ignore[arg-type,return-value]
        with self._lock:
            for card in ordered:
                del self._cards[card.id]
                self._cards[card.id] = card
            self.version += 1
        return ordered

    def _update(self, card: Card, **changes: object) -> Card:
        with self._lock:
            updated = replace(card, **changes)  # type: ignore[arg-type]
            self._cards[card.id] = updated
            self.version += 1
        return updated


def _column(value: object) -> str:
    if value not in COLUMNS:
        raise BoardError(f"a column is one of {', '.join(COLUMNS)}")
    assert isinstance(value, str)
    return value
