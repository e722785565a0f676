"""The wheel is one package, ``ecowarn``, with its data files; nothing else lands in site-packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_one_package_with_its_data_and_runs_installed(tmp_path: Path) -> None:
    """A non-editable build installs ``ecowarn`` only (``import api`` or ``import store`` fail),
    ships rules, credit and warning policies, the sample registry, SQL migrations and
    templates, and finds them through importlib.resources from the installed copy."""
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, cwd=tmp_path, timeout=300)
    (wheel,) = out.glob("ecowarn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"ecowarn", wheel.name.split("-py")[0] + ".dist-info"}
    for data in ("ecowarn/config/rules.yaml", "ecowarn/config/credit.yaml", "ecowarn/config/warnings.yaml",
                 "ecowarn/config/registry.example.yaml", "ecowarn/store/migrations/0001_init.sql",
                 "ecowarn/store/migrations/0001_init.timescale.sql", "ecowarn/api/templates/base.html"):
        assert data in names

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, timeout=300)
    probe = f"""
import importlib, sys
sys.path.insert(0, {str(target)!r})
import ecowarn.cli
from ecowarn.config import packaged_file
from ecowarn.store import list_migrations
from ecowarn.api._templates import templates
assert ecowarn.__file__.startswith({str(target)!r}), ecowarn.__file__
assert str(packaged_file("rules.yaml")).startswith({str(target)!r})
assert len(list_migrations()) >= 5
templates().get_template("base.html")
for name in ("api", "config", "store", "alerts", "ingest", "detectors", "credit", "simulator"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        continue
    raise SystemExit(f"top-level {{name}} importable")
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"
