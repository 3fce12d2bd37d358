"""Reading the dependency locks (``requirements/*.lock``, written by ``make lock``) against ``pyproject.toml``.

Offline on purpose: re-resolving would need the network and minutes. What can drift is checked instead: a
requirement in ``pyproject.toml`` that the lock lacks or pins outside its bounds, a pin the lock says comes
from ``pyproject.toml`` that no longer does, and a pin without a hash (``pip --require-hashes`` refuses it).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
BUILD_LOCK = ROOT / "requirements" / "build.lock"
FROM_PYPROJECT = "nmss-intake (pyproject.toml)"

_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


@dataclass
class Pin:
    name: NormalizedName
    version: Version
    marker: str | None = None  # where it applies, e.g. "sys_platform == 'win32'"
    hashes: int = 0
    via: set[str] = field(default_factory=set)


def read_lock(text: str) -> list[Pin]:
    """The pins of a lock in pip's requirements format, with their hash count and ``# via`` annotations.

    A universal lock may pin one package twice, for environments its markers tell apart.
    """
    pins: list[Pin] = []
    current: Pin | None = None
    for line in text.splitlines():
        if match := _PIN.match(line):
            current = Pin(canonicalize_name(match["name"]), Version(match["version"]), match["marker"])
            pins.append(current)
            continue
        stripped = line.strip()
        if current is None or not stripped:
            continue
        if stripped.startswith("--hash="):
            current.hashes += 1
        elif stripped.startswith(("# via ", "#   ")):
            current.via.add(stripped.removeprefix("# via ").removeprefix("#   ").strip())
        elif not stripped.startswith("#"):
            raise ValueError(f"not a pinned requirement: {line!r}")
    return pins


def project_requirements(pyproject: dict[str, Any], extras: set[str]) -> list[Requirement]:
    """The project's requirements with ``extras``, self-references (``nmss-intake[test]``) followed."""
    project = pyproject["project"]
    own_name = canonicalize_name(project["name"])
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    wanted, seen = set(extras), set[str]()
    requirements = [Requirement(text) for text in project["dependencies"]]
    while wanted - seen:
        extra = (wanted - seen).pop()
        seen.add(extra)
        for text in optional[extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == own_name:
                wanted |= requirement.extras
            else:
                requirements.append(requirement)
    return requirements


def build_requirements(pyproject: dict[str, Any]) -> list[Requirement]:
    """What the build backend needs (``[build-system] requires``): the build lock's inputs."""
    return [Requirement(text) for text in pyproject["build-system"]["requires"]]


def disagreements(requirements: list[Requirement], lock_text: str) -> list[str]:
    """One line per way the lock differs from ``requirements``, what ``pyproject.toml`` asks of it."""
    pins = read_lock(lock_text)
    problems: list[str] = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        same = [pin for pin in pins if pin.name == name]
        if not same:
            problems.append(f"{requirement} is in pyproject.toml but not in the lock")
        problems.extend(
            f"{requirement} is in pyproject.toml but the lock pins {pin.name}=={pin.version}"
            for pin in same
            if not requirement.specifier.contains(pin.version, prereleases=True)
        )
    direct = {canonicalize_name(r.name) for r in requirements}
    for pin in pins:
        if FROM_PYPROJECT in pin.via and pin.name not in direct:
            problems.append(f"{pin.name} is pinned as a requirement of pyproject.toml, which no longer has it")
        if pin.hashes == 0:
            problems.append(f"{pin.name}=={pin.version} has no hash")
    return problems


def load_pyproject(path: Path = PYPROJECT) -> dict[str, Any]:
    with path.open("rb") as stream:
        return tomllib.load(stream)
