"""Simulator of monitored plants: seeded minute data, labelled injections, an MQTT publisher.

- :mod:`simulator.plant`: :func:`simulate` / :func:`generate` clean data for a registry.
- :mod:`simulator.scenario`: injections (violations and hard negatives) and their labels.
- :mod:`simulator.spec`: :func:`parse_injection` for compact command-line specs.
- :mod:`simulator.publish`: :func:`run_simulation` publishes to an MQTT broker.
"""

from ecowarn.simulator._common import CST
from ecowarn.simulator._power import ProductionProfile, default_profile
from ecowarn.simulator.errors import InjectionError, PublishError, SimulatorError
from ecowarn.simulator.plant import (
    DeviceSeries,
    Minute,
    Reading,
    Simulation,
    generate,
    iter_minutes,
    select_enterprises,
    simulate,
)
from ecowarn.simulator.publish import SimStats, run_simulation
from ecowarn.simulator.scenario import (
    INJECTION_TYPES,
    AirHotspot,
    Bypass,
    DataGap,
    EarlyTreatmentStop,
    EmergencyProduction,
    Exceedance,
    Flatline,
    Injection,
    LateTreatmentStart,
    Marking,
    O2Dilution,
    PhOutOfRange,
    Pinned,
    PlannedShutdown,
    SiteOutage,
    StageOutage,
    StandbyOff,
    StoppedZero,
    ThresholdNoise,
    TreatmentBlip,
    TreatmentOutage,
    TreatmentUnderload,
    WaterExceedance,
    WaterSpike,
    injection_labels,
    validate_injections,
)
from ecowarn.simulator.spec import SPEC_NAMES, parse_injection

__all__ = [
    "CST",
    "INJECTION_TYPES",
    "SPEC_NAMES",
    "AirHotspot",
    "Bypass",
    "DataGap",
    "DeviceSeries",
    "EarlyTreatmentStop",
    "EmergencyProduction",
    "Exceedance",
    "Flatline",
    "Injection",
    "InjectionError",
    "LateTreatmentStart",
    "Marking",
    "Minute",
    "O2Dilution",
    "PhOutOfRange",
    "Pinned",
    "PlannedShutdown",
    "ProductionProfile",
    "PublishError",
    "Reading",
    "SimStats",
    "Simulation",
    "SimulatorError",
    "SiteOutage",
    "StageOutage",
    "StandbyOff",
    "StoppedZero",
    "ThresholdNoise",
    "TreatmentBlip",
    "TreatmentOutage",
    "TreatmentUnderload",
    "WaterExceedance",
    "WaterSpike",
    "default_profile",
    "generate",
    "injection_labels",
    "iter_minutes",
    "parse_injection",
    "run_simulation",
    "select_enterprises",
    "simulate",
    "validate_injections",
]
