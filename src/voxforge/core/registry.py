"""One small registry type for readers, writers, layout strategies and models."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from voxforge.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping whose unknown-name error lists the close matches.

    >>> strategies = Registry[str]("layout strategy")
    >>> _ = strategies.register("greedy", "fast")
    >>> strategies["greedy"]
    'fast'
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        key = name.lower()
        if key in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[key] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        """Register the decorated object under ``name`` and return it unchanged."""

        def wrap(item: T) -> T:
            return self.register(name, item)

        return wrap

    def __getitem__(self, name: str) -> T:
        key = name.lower()
        if key not in self._items:
            close = difflib.get_close_matches(key, list(self._items), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}{hint} (known: {known})")
        return self._items[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())
