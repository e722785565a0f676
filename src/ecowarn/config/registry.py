"""The registry of monitored enterprises, devices and air stations (CONTRACT section 2).

The YAML file is parsed with pydantic at the edge, then cross-checked (unified
social credit code check digits, duplicate ids, references between devices) and
turned into frozen dataclasses. Every problem is reported as
``file:line: path: message`` and the service refuses to start.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ecowarn.config._files import packaged_file
from ecowarn.config.credit_code import check_char as uscc_check_char
from ecowarn.config.credit_code import is_valid as uscc_is_valid
from ecowarn.config.metrics import KIND_METRICS, Kind

__all__ = [
    "Contact",
    "Device",
    "Enterprise",
    "Permit",
    "Registry",
    "RegistryError",
    "Station",
    "default_code_profiles",
    "load_registry",
    "parse_registry",
    "uscc_check_char",
    "uscc_is_valid",
]

# --- core model ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: Kind
    enterprise_id: str | None
    role: Literal["production", "treatment"] | None = None
    equipment: str = ""
    rated_kw: float | None = None
    running_kw: float | None = None
    # Every treatment meter of a production unit, stage by stage (flattened ``stages``).
    treated_by: tuple[str, ...] = ()
    password: str | None = None
    outlet: str | None = None
    ref_o2: float | None = None
    # CEMS: hourly converted limits; water: daily-mean limits (mg/L).
    limits: Mapping[str, float] = field(default_factory=dict)
    serves: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    # Treatment stages of a production unit (CONTRACT section 7): each stage is one meter
    # id or alternatives, and runs when any one of its meters runs.
    stages: tuple[tuple[str, ...], ...] = ()
    # The HJ 212 MN the device's data logger sends (CEMS and water: its id unless given).
    mn: str | None = None
    # HJ 212 factor code -> metric, for power meters that speak HJ 212.
    codes: Mapping[str, str] = field(default_factory=dict)
    # Water outlets: hourly-mean limits (optional) and the allowed pH range.
    limits_hourly: Mapping[str, float] = field(default_factory=dict)
    ph_range: tuple[float, float] = (6.0, 9.0)
    # CEMS: designed flue gas flow from the permit, m3/s (typical running flow until learned).
    design_flow: float | None = None

    @property
    def hj212_mn(self) -> str | None:
        """The MN this device's packets carry, when it speaks HJ 212."""
        if self.mn is not None:
            return self.mn
        return self.id if self.kind in ("cems", "water") else None

    @property
    def running_threshold_kw(self) -> float:
        """Power at or above which the equipment counts as running."""
        if self.running_kw is not None:
            return self.running_kw
        if self.rated_kw is None:
            raise ValueError(f"device {self.id} has no rated_kw")
        return 0.1 * self.rated_kw

    @property
    def label(self) -> str:
        return self.equipment or self.id


@dataclass(frozen=True, slots=True)
class Permit:
    """排污许可证: the discharge permit's number and expiry (local date, ISO)."""

    number: str
    valid_until: str | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    role: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class Enterprise:
    id: str
    name: str
    region: str
    industry: str
    webhook: str | None
    device_ids: tuple[str, ...]
    # Optional site coordinates (WGS 84), used to name enterprises upwind of an air station.
    lat: float | None = None
    lon: float | None = None
    permit: Permit | None = None
    contacts: tuple[Contact, ...] = ()
    address: str = ""


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    lat: float
    lon: float
    name: str = ""


@dataclass(frozen=True)
class Registry:
    enterprises: Mapping[str, Enterprise]
    devices: Mapping[str, Device]
    stations: Mapping[str, Station]
    source: str = "<memory>"

    def production_devices(self) -> Iterable[Device]:
        return (d for d in self.devices.values() if d.role == "production")

    def by_mn(self, mn: str) -> Device | None:
        """The (first) device whose HJ 212 packets carry ``mn``."""
        found = self._mn_index.get(mn)
        return found[0] if found else None

    def devices_by_mn(self, mn: str) -> list[Device]:
        """Every device whose HJ 212 packets carry ``mn``: one CEMS or water outlet, or the
        power meters of one sub-metering terminal."""
        return list(self._mn_index.get(mn, ()))

    @cached_property
    def _mn_index(self) -> dict[str, list[Device]]:
        index: dict[str, list[Device]] = {}
        for d in self.devices.values():
            if (mn := d.hj212_mn) is not None:
                index.setdefault(mn, []).append(d)
        return index

    def producers_treated_by(self, treatment_id: str) -> list[Device]:
        return list(self._treated_index.get(treatment_id, ()))

    def outlets_serving(self, production_id: str) -> list[Device]:
        return list(self._serving_index.get(production_id, ()))

    @cached_property
    def _treated_index(self) -> dict[str, list[Device]]:
        index: dict[str, list[Device]] = {}
        for d in self.production_devices():
            for t in d.treated_by:
                index.setdefault(t, []).append(d)
        return index

    @cached_property
    def _serving_index(self) -> dict[str, list[Device]]:
        index: dict[str, list[Device]] = {}
        for d in self.devices.values():
            for p in d.serves:
                index.setdefault(p, []).append(d)
        return index


class RegistryError(Exception):
    """The registry file is invalid; ``problems`` holds one line per problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"invalid registry {source}:\n  " + "\n  ".join(problems))


# --- the edge: pydantic models of the file --------------------------------------------


class _Notify(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook: str | None = None


class _Device(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    kind: Literal["cems", "power", "air", "water"]
    role: Literal["production", "treatment"] | None = None
    equipment: str = ""
    rated_kw: float | None = Field(default=None, gt=0)
    running_kw: float | None = Field(default=None, gt=0)
    # One entry per stage: a meter id, or a list of alternative meter ids.
    treated_by: list[str | list[str]] = []
    password: str | None = None
    outlet: str | None = None
    ref_o2: float | None = Field(default=None, ge=0, lt=21)
    limits: dict[str, float] = {}
    limits_hourly: dict[str, float] = {}
    ph_range: tuple[float, float] | None = None
    serves: list[str] = []
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    mn: str | None = Field(default=None, min_length=1, max_length=64)
    # factor code -> metric, or the name of a code profile (``hj212_codes.yaml``)
    codes: dict[str, str] | str | None = None
    design_flow: float | None = Field(default=None, gt=0)

    @field_validator("id", "mn", "password", mode="before")
    @classmethod
    def _id_str(cls, v: Any) -> Any:
        # MNs are digits; YAML would read an unquoted one as an integer.
        return str(v) if isinstance(v, int) else v

    @field_validator("limits", "limits_hourly")
    @classmethod
    def _finite_limits(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not math.isfinite(x) or x <= 0:
                raise ValueError(f"limit for {k} must be a positive number")
        return v

    @field_validator("ph_range")
    @classmethod
    def _ph_range(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not 0 <= v[0] < v[1] <= 14:
            raise ValueError("ph_range must be [low, high] with 0 <= low < high <= 14")
        return v


class _Permit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1)
    valid_until: date | None = None


class _Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    role: str = ""
    phone: str = ""

    @field_validator("phone", mode="before")
    @classmethod
    def _phone_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v


class _Enterprise(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str = Field(min_length=1)
    region: str = Field(pattern=r"^\d{6}$")
    industry: str = ""
    notify: _Notify = _Notify()
    devices: list[_Device] = []
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    permit: _Permit | None = None
    contacts: list[_Contact] = []
    address: str = ""


class _Station(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64)
    name: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enterprises: list[_Enterprise] = []
    stations: list[_Station] = []


# --- line numbers ---------------------------------------------------------------------

_Path = tuple[str | int, ...]


def _line_map(node: yaml.Node | None, path: _Path = (), out: dict[_Path, int] | None = None) -> dict[_Path, int]:
    """Map each path in the YAML document to its 1-based line number."""
    if out is None:
        out = {}
    if node is None:
        return out
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, i), out)
    return out


def _line_of(lines: dict[_Path, int], path: _Path) -> int:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return 1


def _fmt_path(path: _Path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<document>"


# --- parsing and cross-checks ---------------------------------------------------------

# libyaml's parser when PyYAML was built with it (the wheels are): a province's registry
# (~250,000 devices) parses in a fraction of the pure-Python parser's time.
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose_and_construct(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for line numbers in messages) and the data built from it."""
    loader = _YAML_LOADER(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def parse_registry(text: str, source: str = "<memory>",
                   code_profiles: Mapping[str, Mapping[str, str]] | None = None) -> Registry:
    """Parse and validate registry YAML text; raise :class:`RegistryError`.

    ``code_profiles``: named HJ 212 code mappings (factor code -> metric) that power meters
    may name in ``codes`` (default: the profiles shipped in ``hj212_codes.yaml``).
    """
    try:
        node, data = _compose_and_construct(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise RegistryError(source, [f"{source}:{line}: not valid YAML: {exc}"]) from exc
    lines = _line_map(node)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RegistryError(source, [f"{source}:1: the registry must be a mapping"])
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(f"{source}:{_line_of(lines, loc)}: {_fmt_path(loc)}: {err['msg']}")
        raise RegistryError(source, problems) from exc
    return _build(parsed, lines, source, default_code_profiles() if code_profiles is None else code_profiles)


def _build(f: _File, lines: dict[_Path, int], source: str,
           code_profiles: Mapping[str, Mapping[str, str]]) -> Registry:
    problems: list[str] = []

    def problem(path: _Path, msg: str) -> None:
        problems.append(f"{source}:{_line_of(lines, path)}: {_fmt_path(path)}: {msg}")

    enterprises: dict[str, Enterprise] = {}
    devices: dict[str, Device] = {}
    dev_paths: dict[str, _Path] = {}
    stations: dict[str, Station] = {}

    for ei, e in enumerate(f.enterprises):
        epath: _Path = ("enterprises", ei)
        if not uscc_is_valid(e.id):
            if len(e.id) != 18:
                problem((*epath, "id"), f"unified social credit code {e.id!r} must have 18 characters")
            else:
                try:
                    expect = uscc_check_char(e.id[:17])
                    problem((*epath, "id"), f"unified social credit code {e.id!r} has check "
                            f"character {e.id[17]!r}, expected {expect!r}")
                except ValueError as exc:
                    problem((*epath, "id"), f"unified social credit code {e.id!r}: {exc}")
        if e.id in enterprises:
            problem((*epath, "id"), f"duplicate enterprise id {e.id!r}")
        for di, d in enumerate(e.devices):
            dpath: _Path = (*epath, "devices", di)
            if d.id in devices:
                problem((*dpath, "id"), f"duplicate device id {d.id!r} (first at line "
                        f"{_line_of(lines, dev_paths[d.id])})")
                continue
            _check_device(d, dpath, problem)
            stages = tuple((s,) if isinstance(s, str) else tuple(s) for s in d.treated_by)
            devices[d.id] = Device(
                id=d.id, kind=d.kind, enterprise_id=e.id, role=d.role, equipment=d.equipment,
                rated_kw=d.rated_kw, running_kw=d.running_kw,
                treated_by=tuple(m for stage in stages for m in stage), stages=stages,
                password=d.password, outlet=d.outlet, ref_o2=d.ref_o2, limits=dict(d.limits),
                serves=tuple(d.serves), lat=d.lat, lon=d.lon, mn=d.mn,
                codes=_codes(d, dpath, code_profiles, problem), limits_hourly=dict(d.limits_hourly),
                ph_range=d.ph_range or (6.0, 9.0), design_flow=d.design_flow,
            )
            dev_paths[d.id] = dpath
        enterprises[e.id] = Enterprise(
            id=e.id, name=e.name, region=e.region, industry=e.industry,
            webhook=e.notify.webhook, device_ids=tuple(d.id for d in e.devices),
            lat=e.lat, lon=e.lon,
            permit=None if e.permit is None else Permit(
                e.permit.number, None if e.permit.valid_until is None else e.permit.valid_until.isoformat()),
            contacts=tuple(Contact(c.name, c.role, c.phone) for c in e.contacts),
            address=e.address,
        )
        if (e.lat is None) != (e.lon is None):
            problem((*epath, "lat" if e.lat is None else "lon"),
                    "give both lat and lon of the enterprise, or neither")

    for si, s in enumerate(f.stations):
        spath: _Path = ("stations", si)
        if s.id in devices:
            problem((*spath, "id"), f"duplicate device id {s.id!r} (first at line "
                    f"{_line_of(lines, dev_paths[s.id])})")
            continue
        _check_id(s.id, spath, problem)
        stations[s.id] = Station(id=s.id, lat=s.lat, lon=s.lon, name=s.name)
        devices[s.id] = Device(id=s.id, kind="air", enterprise_id=None, equipment=s.name,
                               lat=s.lat, lon=s.lon)
        dev_paths[s.id] = spath

    # references, now that every id is known
    mns: dict[str, str] = {}
    for did, dev in devices.items():
        dpath = dev_paths[did]
        mn = dev.hj212_mn
        if mn is not None:
            # One data logger per CEMS or water outlet; a sub-metering terminal may carry
            # several meters under one MN, told apart by their factor codes.
            other = devices.get(mns[mn]) if mn in mns else None
            if other is not None and not (dev.kind == other.kind == "power"):
                problem((*dpath, "mn" if dev.mn else "id"),
                        f"HJ 212 MN {mn!r} is already used by device {other.id!r}")
            elif other is not None:
                shared = set(dev.codes) & set(_codes_of(devices, mns, mn, did))
                if shared:
                    problem((*dpath, "codes"), f"factor code(s) {', '.join(sorted(shared))} of MN {mn!r} "
                            f"are already mapped by device {other.id!r}")
            if mn not in mns:
                mns[mn] = did
        seen_in_stages: set[str] = set()
        for j, stage in enumerate(dev.stages):
            for k, ref in enumerate(stage):
                where: _Path = (*dpath, "treated_by", j) if len(stage) == 1 else (*dpath, "treated_by", j, k)
                target = devices.get(ref)
                if ref in seen_in_stages:
                    problem(where, f"treated_by lists {ref!r} twice: a meter belongs to one stage")
                seen_in_stages.add(ref)
                if target is None:
                    problem(where, f"treated_by references unknown device {ref!r}")
                elif target.kind != "power" or target.role != "treatment":
                    problem(where,
                            f"treated_by references {ref!r}, which is not a power meter with role treatment")
                elif target.enterprise_id != dev.enterprise_id:
                    problem(where, f"treated_by references {ref!r} of another enterprise")
        for j, ref in enumerate(dev.serves):
            target = devices.get(ref)
            if target is None:
                problem((*dpath, "serves", j), f"serves references unknown device {ref!r}")
            elif target.kind != "power" or target.role != "production":
                problem((*dpath, "serves", j),
                        f"serves references {ref!r}, which is not a power meter with role production")
            elif target.enterprise_id != dev.enterprise_id:
                problem((*dpath, "serves", j), f"serves references {ref!r} of another enterprise")

    if problems:
        raise RegistryError(source, problems)
    return Registry(enterprises=enterprises, devices=devices, stations=stations, source=source)


def _codes_of(devices: Mapping[str, Device], mns: Mapping[str, str], mn: str, but: str) -> set[str]:
    return {c for d in devices.values() if d.id != but and d.hj212_mn == mn for c in d.codes}


@functools.cache
def _packaged_profiles() -> dict[str, dict[str, str]]:
    data = yaml.safe_load(packaged_file("hj212_codes.yaml").read_text(encoding="utf-8")) or {}
    return {str(name): {str(c): str(m) for c, m in codes.items()} for name, codes in data["profiles"].items()}


def default_code_profiles() -> dict[str, dict[str, str]]:
    """The named HJ 212 code profiles shipped in ``hj212_codes.yaml``."""
    return {k: dict(v) for k, v in _packaged_profiles().items()}


_POWER_CODE_METRICS = frozenset({"p", "e", "i", "rs"})


def _codes(d: _Device, path: _Path, profiles: Mapping[str, Mapping[str, str]], problem: Any) -> dict[str, str]:
    if d.codes is None:
        return {}
    if isinstance(d.codes, str):
        profile = profiles.get(d.codes)
        if profile is None:
            known = ", ".join(sorted(profiles)) or "none"
            problem((*path, "codes"), f"unknown HJ 212 code profile {d.codes!r} (known: {known})")
            return {}
        return dict(profile)
    for code, metric in d.codes.items():
        if metric not in _POWER_CODE_METRICS:
            problem((*path, "codes", code), f"code {code!r} maps to {metric!r}; a power meter's codes "
                    "map to p, e, i or rs")
    return dict(d.codes)


def _check_id(device_id: str, path: _Path, problem: Any) -> None:
    if not device_id or any(ord(c) < 32 or ord(c) == 127 for c in device_id):
        problem((*path, "id"), f"device id {device_id!r} must be non-empty, without control "
                "characters")


def _check_device(d: _Device, path: _Path, problem: Any) -> None:
    _check_id(d.id, path, problem)
    if d.kind == "power":
        if d.role is None:
            problem((*path, "role"), "a power meter needs role: production or treatment")
        if d.rated_kw is None:
            problem((*path, "rated_kw"), "a power meter needs rated_kw")
        if d.running_kw is not None and d.rated_kw is not None and d.running_kw > d.rated_kw:
            problem((*path, "running_kw"), "running_kw is above rated_kw")
        if d.treated_by and d.role != "production":
            problem((*path, "treated_by"), "only production equipment has treated_by")
        for key in ("outlet", "ref_o2", "serves", "limits_hourly", "ph_range", "design_flow"):
            if getattr(d, key):
                problem((*path, key), f"{key} applies to cems or water devices, not power meters")
        if d.limits:
            problem((*path, "limits"), "limits apply to cems or water devices, not power meters")
        if d.codes and d.mn is None:
            problem((*path, "codes"), "codes need the mn of the HJ 212 terminal that sends them")
        if d.mn is not None and not d.codes:
            problem((*path, "mn"), "a power meter over HJ 212 needs codes (a mapping or a profile name)")
    elif d.kind in ("cems", "water"):
        for key in ("role", "rated_kw", "running_kw", "treated_by", "codes"):
            if getattr(d, key):
                problem((*path, key), f"{key} applies to power meters, not {d.kind} devices")
        for key in ("limits", "limits_hourly"):
            for metric in getattr(d, key):
                if metric not in KIND_METRICS[d.kind]:
                    problem((*path, key, metric), f"limit for unknown {d.kind} metric {metric!r}")
        if d.kind == "cems":
            for key in ("limits_hourly", "ph_range"):
                if getattr(d, key):
                    problem((*path, key), f"{key} applies to water outlets, not cems devices")
        else:
            for key in ("ref_o2", "design_flow"):
                if getattr(d, key):
                    problem((*path, key), f"{key} applies to cems devices, not water outlets")
    else:  # an enterprise's own fence-line air station
        for key in ("role", "rated_kw", "running_kw", "treated_by", "serves", "limits", "mn", "codes",
                    "limits_hourly", "ph_range", "design_flow"):
            if getattr(d, key):
                problem((*path, key), f"{key} does not apply to air stations")


def load_registry(path: Path | str) -> Registry:
    """Read and validate the registry file at ``path``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(str(p), [f"{p}: cannot read: {exc.strerror}"]) from exc
    return parse_registry(text, str(p))
