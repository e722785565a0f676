"""Request bodies validated at the edge (pydantic); routes turn them into SQL rows."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ecowarn.api._time import AwareDatetime

__all__ = ["EmergencyOrderIn", "MaintenanceIn"]


def _after_start(end: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
    start = info.data.get("start")
    if start is not None and end <= start:
        raise ValueError("end must be after start")
    return end


class EmergencyOrderIn(BaseModel):
    """``POST /api/v1/emergency-orders``. ``limit_pct`` (1..100, the curtailment in
    percent of baseline load) is required for ``measure=limit`` and ignored for
    ``shutdown``."""

    model_config = ConfigDict(extra="forbid")

    enterprise_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=10_000)
    start: AwareDatetime
    end: AwareDatetime
    measure: Literal["shutdown", "limit"]
    limit_pct: int | None = Field(default=None, ge=1, le=100, validate_default=True)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        return _after_start(value, info)

    @field_validator("limit_pct")
    @classmethod
    def _limit_needs_pct(cls, value: int | None, info: ValidationInfo) -> int | None:
        measure = info.data.get("measure")
        if measure == "limit" and value is None:
            raise ValueError("limit_pct (1..100) is required when measure is limit")
        return value if measure == "limit" else None


class MaintenanceIn(BaseModel):
    """``POST /api/v1/maintenance``: declared maintenance of one device."""

    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=64)
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1, max_length=2000)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: AwareDatetime, info: ValidationInfo) -> AwareDatetime:
        return _after_start(value, info)
