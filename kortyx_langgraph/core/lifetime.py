"""``with`` and ``async with`` for objects that own connections and close them."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """Gives a class with ``close()`` and ``aclose()`` both context-manager protocols."""

    def close(self) -> None:
        """Release what the object owns; idempotent."""

    async def aclose(self) -> None:
        """Async :meth:`close`."""
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
