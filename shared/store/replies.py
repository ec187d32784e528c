"""Redis replies as text: the store's clients decode replies (``decode_responses=True``), but
redis-py types every reply as ``bytes | str``; ``text`` says which it is, and decodes a bytes
reply (a client that does not decode) as UTF-8."""

from __future__ import annotations


def text(reply: bytes | str) -> str:
    """``reply`` as str."""
    return reply.decode() if isinstance(reply, bytes) else reply


def texts(reply: dict[bytes | str, bytes | str] | dict[str, str]) -> dict[str, str]:
    """A hash reply (HGETALL) with str keys and values."""
    return {text(k): text(v) for k, v in reply.items()}
