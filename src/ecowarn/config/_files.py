"""Data files shipped inside the package, found through ``importlib.resources``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["packaged_file"]


def packaged_file(name: str) -> Path:
    """The path of ``name`` among the data files of ``ecowarn.config``.

    The package is installed as files (wheel or editable), so the resource is a real path
    that error messages can name and that can be passed to ``--registry`` and the like.
    """
    ref = resources.files("ecowarn.config").joinpath(name)
    if not isinstance(ref, Path):  # a zip import: not a supported way to install ecowarn
        raise RuntimeError(f"ecowarn is not installed as files; cannot locate {name}")
    if not ref.is_file():
        raise FileNotFoundError(f"packaged data file missing: {ref}")
    return ref
