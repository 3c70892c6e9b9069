"""Content-Encoding decoding with a hard cap on decoded bytes, so compression bombs are stopped
after at most `limit` bytes of output, however small the compressed input was."""

from __future__ import annotations

import zlib
from typing import Final

from audits.engine.errors import AuditFailure, FailureKind

_MAX_STAGES: Final = 2


class DecodedTooLarge(Exception):
    """Decoding produced more than the allowed number of bytes."""


class _Inflater:
    """gzip or deflate (zlib-wrapped, or raw as some servers send it) with bounded output."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in ("gzip", "x-gzip")
        self._decompressor: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None

    def _start(self, data: bytes) -> zlib._Decompress:
        # RFC 9110 "deflate" is zlib-wrapped, but raw deflate is common in the wild.
        wrapped = len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> bytes:
        if self._decompressor is None:
            if not data:
                return b""
            self._decompressor = self._start(data)
        out = bytearray()
        pending = data
        while True:
            try:
                out += self._decompressor.decompress(pending, room - len(out) + 1)
            except zlib.error as exc:
                raise AuditFailure(FailureKind.BAD_RESPONSE, "the site sent corrupt compressed data") from exc
            if len(out) > room:
                raise DecodedTooLarge
            pending = self._decompressor.unconsumed_tail
            if not pending:
                return bytes(out)


class CappedDecoder:
    """Decodes a body through its Content-Encoding stages, never holding more than `limit` bytes."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        stages = [e.strip().lower() for e in content_encoding.split(",") if e.strip()]
        stages = [e for e in stages if e != "identity"]
        if len(stages) > _MAX_STAGES:
            raise AuditFailure(FailureKind.BAD_RESPONSE, "the site stacked too many compression layers")
        unsupported = [e for e in stages if e not in ("gzip", "x-gzip", "deflate")]
        if unsupported:
            raise AuditFailure(
                FailureKind.BAD_RESPONSE, f"the site used a compression we did not ask for ({unsupported[0]})"
            )
        # Encodings are listed in the order applied, so decoding runs in reverse.
        self._stages = [_Inflater(e) for e in reversed(stages)]
        self._limit = limit
        self.decoded_bytes = 0

    def feed(self, data: bytes) -> bytes:
        for stage in self._stages:
            data = stage.feed(data, self._limit - self.decoded_bytes)
        self.decoded_bytes += len(data)
        if self.decoded_bytes > self._limit:
            raise DecodedTooLarge
        return data
