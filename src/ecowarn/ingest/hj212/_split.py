"""Reassembly of split uploads (Flag bit D, ``PNUM``/``PNO``), gateway-wide.

HJ 212-2017 lets a logger spread one upload over ``PNUM`` packets numbered
``PNO`` = 1..PNUM, all with the upload's ``QN``, ``MN`` and ``CN``, each with
its own CP part. :class:`SplitAssembler` keeps the parts of each upload, keyed
by (MN, QN, CN), until all of them are there, whichever connection each part
came over (a logger that reconnects mid-upload sends the rest over its new
connection); :func:`merge_parts` then makes one packet of them. No I/O and no
clock: the caller passes ``now`` (monotonic seconds).

Bounds: per device (MN), at most ``max_uploads`` uploads pending and
``max_bytes`` of their raw packets; in all, ``max_total_bytes``. The oldest
upload (of the device, or of all) is abandoned to make room, and an upload is
abandoned ``timeout_s`` after its first part arrived. An abandoned upload comes
back as :class:`Abandoned` with its raw parts, for the dead-letter table.

A part sent again with the same content (a logger that missed the answer) is a
``duplicate``, also while its complete upload is being stored and after (the
caller reports that with :meth:`SplitAssembler.stored`; such keys are
remembered for ``timeout_s``, at most ``max_completed`` of them); a part with
the same PNO but other content is a ``conflict``; a part whose PNUM differs from the upload's first part is
``bad_pnum``. A complete upload that could not be stored is put back with
:meth:`SplitAssembler.restore`: the next part sent again completes it again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ecowarn.ingest.hj212.errors import MappingError
from ecowarn.ingest.hj212.segment import Packet

__all__ = ["Abandoned", "AddResult", "Complete", "SplitAssembler", "SplitKey", "merge_parts"]

SplitKey = tuple[str, str, str]  # (MN, QN, CN)


@dataclass(slots=True)
class _Upload:
    pnum: int
    deadline: float
    parts: dict[int, tuple[Packet, bytes]] = field(default_factory=dict)  # PNO -> (packet, raw)
    size: int = 0  # raw bytes held


@dataclass(slots=True)
class _Device:
    """The pending uploads of one MN, oldest first, and their raw bytes."""

    keys: OrderedDict[SplitKey, None] = field(default_factory=OrderedDict)
    size: int = 0


@dataclass(frozen=True, slots=True)
class Complete:
    """Every part of an upload, in PNO order."""

    key: SplitKey
    packets: tuple[Packet, ...]
    raws: tuple[bytes, ...]  # the parts' packets as received, in PNO order

    @property
    def raw(self) -> bytes:
        """The parts' packets concatenated (a valid HJ 212 byte stream)."""
        return b"".join(self.raws)


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
    """Pending split uploads of a gateway (see the module docstring)."""

    def __init__(self, *, timeout_s: float, max_uploads: int, max_bytes: int,
                 max_total_bytes: int | None = None, max_completed: int = 65_536) -> None:
        total = max_bytes if max_total_bytes is None else max_total_bytes
        if not timeout_s > 0 or min(max_uploads, max_bytes, total, max_completed) < 1:
            raise ValueError("timeout_s, max_uploads, max_bytes, max_total_bytes and "
                             "max_completed must be positive")
        self.timeout_s = timeout_s
        self.max_uploads = max_uploads  # per device
        self.max_bytes = max_bytes  # per device
        self.max_total_bytes = total
        self.max_completed = max_completed
        # Insertion order is first-arrival order, so deadlines are ascending.
        self._pending: OrderedDict[SplitKey, _Upload] = OrderedDict()
        self._devices: dict[str, _Device] = {}
        self._completed: OrderedDict[SplitKey, float] = OrderedDict()  # key -> forget after
        self._completing: set[SplitKey] = set()  # complete, not yet stored or restored
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
        if key in self._completed or key in self._completing:
            return AddResult("duplicate", detail="part of an upload already complete")
        upload = self._pending.get(key)
        evicted: list[Abandoned] = []
        if upload is None:
            device = self._devices.get(key[0])
            while device is not None and len(device.keys) >= self.max_uploads:
                evicted.append(self._abandon(next(iter(device.keys)), "abandoned for a newer "
                                             f"upload: at most {self.max_uploads} pending "
                                             "per device"))
                device = self._devices.get(key[0])
            upload = self._insert(key, _Upload(pnum, now + self.timeout_s))
        elif pnum != upload.pnum:
            return AddResult("bad_pnum", detail=f"PNUM {pnum} differs from the {upload.pnum} "
                             "of the upload's first part")
        held = upload.parts.get(pno)
        if held is not None:
            if _segment(held[1]) != _segment(raw):
                return AddResult("conflict", detail=f"PNO {pno} arrived again with other content")
            if len(upload.parts) < upload.pnum:
                return AddResult("duplicate", detail=f"PNO {pno} again")
            # A restored upload (its storing failed): the resend completes it again.
        else:
            upload.parts[pno] = (packet, raw)
            upload.size += len(raw)
            self._bytes += len(raw)
            self._devices[key[0]].size += len(raw)
            if len(upload.parts) < upload.pnum:
                self._make_room(key[0], evicted)  # may abandon this very upload
                return AddResult("pending", evicted=tuple(evicted))
        self._remove(key)  # complete: its bytes are freed, no room needs making
        self._completing.add(key)
        order = sorted(upload.parts)
        complete = Complete(key, tuple(upload.parts[p][0] for p in order),
                            tuple(upload.parts[p][1] for p in order))
        return AddResult("complete", complete=complete, evicted=tuple(evicted))

    def stored(self, key: SplitKey, now: float) -> None:
        """The complete upload ``key`` was stored (or dead-lettered): parts of it sent again
        are duplicates for ``timeout_s``."""
        self._completing.discard(key)
        self._completed[key] = now + self.timeout_s
        while len(self._completed) > self.max_completed:
            self._completed.popitem(last=False)

    def restore(self, complete: Complete, now: float) -> None:
        """Put back a complete upload that could not be stored, as pending with all its parts
        and a new timeout: a part sent again completes it again; if none comes, it is
        abandoned with every part. Bounds are not applied to it (a rare path)."""
        self._completing.discard(complete.key)
        upload = _Upload(len(complete.packets), now + self.timeout_s)
        for pno, (packet, raw) in enumerate(zip(complete.packets, complete.raws,
                                                strict=True), 1):
            upload.parts[pno] = (packet, raw)
            upload.size += len(raw)
        self._insert(complete.key, upload)

    def expire(self, now: float) -> list[Abandoned]:
        """Abandon the uploads whose time is up."""
        out: list[Abandoned] = []
        while self._pending:
            key, upload = next(iter(self._pending.items()))
            if upload.deadline > now:
                break  # restored uploads may be out of deadline order: they wait a little longer
            out.append(self._abandon(key, f"not complete {self.timeout_s:g} s after its first part"))
        return out

    def abandon_all(self, why: str) -> list[Abandoned]:
        """Abandon every pending upload (the gateway shuts down)."""
        return [self._abandon(key, why) for key in list(self._pending)]

    def _make_room(self, mn: str, evicted: list[Abandoned]) -> None:
        """Abandon the oldest uploads while device ``mn``'s or the total bytes are over their
        bounds."""
        device = self._devices[mn]
        while device.size > self.max_bytes:
            evicted.append(self._abandon(next(iter(device.keys)), f"over {self.max_bytes} bytes "
                                         "of split parts pending for the device"))
        while self._bytes > self.max_total_bytes:
            evicted.append(self._abandon(next(iter(self._pending)), f"over "
                                         f"{self.max_total_bytes} bytes of split parts pending "
                                         "in the gateway"))

    def _insert(self, key: SplitKey, upload: _Upload) -> _Upload:
        """Register a pending upload (as the newest) with the bytes it holds."""
        self._pending[key] = upload
        device = self._devices.setdefault(key[0], _Device())
        device.keys[key] = None
        device.size += upload.size
        self._bytes += upload.size
        return upload

    def _remove(self, key: SplitKey) -> _Upload:
        upload = self._pending.pop(key)
        self._bytes -= upload.size
        device = self._devices[key[0]]
        del device.keys[key]
        device.size -= upload.size
        if not device.keys:
            del self._devices[key[0]]
        return upload

    def _abandon(self, key: SplitKey, why: str) -> Abandoned:
        upload = self._remove(key)
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
