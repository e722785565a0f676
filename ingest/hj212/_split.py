"""Reassembly of split uploads (Flag bit D, ``PNUM``/``PNO``) on one connection.

HJ 212-2017 lets a logger spread one upload over ``PNUM`` packets numbered
``PNO`` = 1..PNUM, all with the upload's ``QN``, ``MN`` and ``CN``, each with
its own CP part. :class:`SplitAssembler` keeps the parts of each upload, keyed
by (MN, QN, CN), until all of them are there; :func:`merge_parts` then makes
one packet of them. No I/O and no clock: the caller passes ``now`` (monotonic
seconds).

Bounds, per connection: at most ``max_uploads`` uploads pending and
``max_bytes`` of their raw packets (the oldest upload is abandoned to make
room); an upload is abandoned ``timeout_s`` after its first part arrived. An
abandoned upload comes back as :class:`Abandoned` with its raw parts, for the
dead-letter table.

A part sent again with the same content (a logger that missed the answer) is a
``duplicate``, also after its upload completed (completed keys are remembered
for ``timeout_s``, at most ``max_uploads * 4`` of them); a part with the same
PNO but other content is a ``conflict``; a part whose PNUM differs from the
upload's first part is ``bad_pnum``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ingest.hj212.errors import MappingError
from ingest.hj212.segment import Packet

__all__ = ["Abandoned", "AddResult", "Complete", "SplitAssembler", "SplitKey", "merge_parts"]

SplitKey = tuple[str, str, str]  # (MN, QN, CN)


@dataclass(slots=True)
class _Upload:
    pnum: int
    deadline: float
    parts: dict[int, tuple[Packet, bytes]] = field(default_factory=dict)  # PNO -> (packet, raw)
    size: int = 0  # raw bytes held


@dataclass(frozen=True, slots=True)
class Complete:
    """Every part of an upload, in PNO order."""

    key: SplitKey
    packets: tuple[Packet, ...]
    raw: bytes  # the parts' packets as received, concatenated in PNO order


@dataclass(frozen=True, slots=True)
class Abandoned:
    """An upload given up before all its parts arrived."""

    key: SplitKey
    pnum: int
    pnos: tuple[int, ...]  # the parts that did arrive
    raw: bytes  # their packets, concatenated in PNO order (a valid HJ 212 byte stream)
    why: str

    @property
    def detail(self) -> str:
        mn, qn, cn = self.key
        missing = self.pnum - len(self.pnos)
        return (f"split upload QN={qn} CN={cn} MN={mn}: {len(self.pnos)} of {self.pnum} parts "
                f"(PNO {','.join(map(str, self.pnos))}), {missing} missing; {self.why}")


@dataclass(frozen=True, slots=True)
class AddResult:
    """What adding one part did.

    ``status``: ``pending`` (kept, more parts to come), ``complete`` (see
    ``complete``), ``duplicate`` (already had it), ``conflict`` (same PNO, other
    content: the part is not kept) or ``bad_pnum`` (PNUM differs from the
    upload's: not kept). ``evicted``: uploads abandoned to make room.
    """

    status: str
    complete: Complete | None = None
    evicted: tuple[Abandoned, ...] = ()
    detail: str = ""


class SplitAssembler:
    """Pending split uploads of one connection (see the module docstring)."""

    def __init__(self, *, timeout_s: float, max_uploads: int, max_bytes: int) -> None:
        if not timeout_s > 0 or max_uploads < 1 or max_bytes < 1:
            raise ValueError("timeout_s, max_uploads and max_bytes must be positive")
        self.timeout_s = timeout_s
        self.max_uploads = max_uploads
        self.max_bytes = max_bytes
        # Insertion order is first-arrival order, so deadlines are ascending.
        self._pending: dict[SplitKey, _Upload] = {}
        self._completed: OrderedDict[SplitKey, float] = OrderedDict()  # key -> forget after
        self._bytes = 0

    @property
    def pending_uploads(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    @property
    def next_deadline(self) -> float | None:
        """When the oldest pending upload times out; None when none is pending."""
        for upload in self._pending.values():
            return upload.deadline
        return None

    def add(self, key: SplitKey, pnum: int, pno: int, packet: Packet, raw: bytes,
            now: float) -> AddResult:
        """Take part ``pno`` of ``pnum`` (1 <= pno <= pnum, checked by the caller)."""
        self._forget_completed(now)
        if key in self._completed:
            return AddResult("duplicate", detail="part of an upload already complete")
        upload = self._pending.get(key)
        evicted: list[Abandoned] = []
        if upload is None:
            while len(self._pending) >= self.max_uploads:
                evicted.append(self._abandon_oldest(
                    f"abandoned for a newer upload: at most {self.max_uploads} pending"))
            upload = self._pending[key] = _Upload(pnum, now + self.timeout_s)
        elif pnum != upload.pnum:
            return AddResult("bad_pnum", detail=f"PNUM {pnum} differs from the {upload.pnum} "
                             "of the upload's first part")
        held = upload.parts.get(pno)
        if held is not None:
            if _segment(held[1]) == _segment(raw):
                return AddResult("duplicate", detail=f"PNO {pno} again")
            return AddResult("conflict", detail=f"PNO {pno} arrived again with other content")
        upload.parts[pno] = (packet, raw)
        upload.size += len(raw)
        self._bytes += len(raw)
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._pending))
            why = f"over {self.max_bytes} bytes of split parts pending"
            evicted.append(self._abandon(oldest, why))
            if oldest == key:
                return AddResult("pending", evicted=tuple(evicted))
        if len(upload.parts) < upload.pnum:
            return AddResult("pending", evicted=tuple(evicted))
        del self._pending[key]
        self._bytes -= upload.size
        self._completed[key] = now + self.timeout_s
        while len(self._completed) > self.max_uploads * 4:
            self._completed.popitem(last=False)
        order = sorted(upload.parts)
        complete = Complete(key, tuple(upload.parts[p][0] for p in order),
                            b"".join(upload.parts[p][1] for p in order))
        return AddResult("complete", complete=complete, evicted=tuple(evicted))

    def expire(self, now: float) -> list[Abandoned]:
        """Abandon the uploads whose time is up."""
        out: list[Abandoned] = []
        while self._pending:
            key, upload = next(iter(self._pending.items()))
            if upload.deadline > now:
                break
            out.append(self._abandon(key, f"not complete {self.timeout_s:g} s after its first part"))
        return out

    def abandon_all(self, why: str) -> list[Abandoned]:
        """Abandon every pending upload (the connection ends)."""
        return [self._abandon(key, why) for key in list(self._pending)]

    def _abandon_oldest(self, why: str) -> Abandoned:
        return self._abandon(next(iter(self._pending)), why)

    def _abandon(self, key: SplitKey, why: str) -> Abandoned:
        upload = self._pending.pop(key)
        self._bytes -= upload.size
        order = sorted(upload.parts)
        return Abandoned(key, upload.pnum, tuple(order),
                         b"".join(upload.parts[p][1] for p in order), why)

    def _forget_completed(self, now: float) -> None:
        done = self._completed
        while done:
            key, until = next(iter(done.items()))
            if until > now:
                break
            del done[key]


def _segment(raw: bytes) -> bytes:
    return raw[6:-6]  # "##" + length ... CRC + CRLF


def merge_parts(packets: Sequence[Packet]) -> Packet:
    """One packet from the parts of an upload (in PNO order): the first part's
    header and every part's CP items.

    A CP field sent in several parts must have the same value in each (a
    repeated ``DataTime`` is normal); different values raise
    :class:`MappingError` ``conflicting_split_packet``. Within one part the
    single-packet rules apply (the first of a repeated field counts).
    """
    seen: dict[str, tuple[str, int]] = {}
    for pno, packet in enumerate(packets, 1):
        own: dict[str, str] = {}
        for key, value in packet.cp_fields():
            own.setdefault(key, value)
        for key, value in own.items():
            earlier = seen.get(key)
            if earlier is None:
                seen[key] = (value, pno)
            elif earlier[0] != value:
                raise MappingError("conflicting_split_packet",
                                   f"{key} is {earlier[0]!r} in part {earlier[1]} and "
                                   f"{value!r} in part {pno}")
    first = packets[0]
    return Packet(header=MappingProxyType(dict(first.header)),
                  cp=tuple(item for p in packets for item in p.cp), has_cp=True)
