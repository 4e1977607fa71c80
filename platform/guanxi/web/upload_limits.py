"""Reading a multipart upload with a byte budget: the stream is cut as soon as it passes the
budget, so an oversized file is refused without being written to a temporary file whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.formparsers import MultiPartException
from starlette.requests import Request


class BodyTooLarge(MultiPartException):
    """Raised from inside the parser, which then closes its temporary files."""


async def limited(request: Request, budget: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > budget:
            raise BodyTooLarge("too large")
        yield chunk
