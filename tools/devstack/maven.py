"""Java, and jars from Maven Central: what Kafka's broker and Strimzi's CRD generator need.

Both parts come as jars resolved by Maven into the cache once (``fetch_jars``) and run on a
``java`` new enough for them (``java_at_least``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from devstack.cache import progress

POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.taskpulse</groupId>
  <artifactId>{name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
{body}
</project>
"""
"""A POM that only gathers dependencies; ``body`` holds its dependency sections."""


class MavenUnavailable(RuntimeError):
    """Java or Maven is missing, or Maven could not resolve what was asked."""


def java_version(java: Path) -> int | None:
    out = subprocess.run(  # noqa: S603 - a java binary, fixed argument
        [str(java), "-version"], capture_output=True, text=True, check=False
    ).stderr
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def java_at_least(major: int, needed_by: str) -> str:
    """A ``java`` of at least ``major``: $JAVA_HOME's, the one on PATH, or any JDK/JRE under
    /usr/lib/jvm (machines here carry a Temurin beside Debian's OpenJDK 17)."""
    candidates = (
        [Path(os.environ["JAVA_HOME"]) / "bin" / "java"] if "JAVA_HOME" in os.environ else []
    )
    if found := shutil.which("java"):
        candidates.append(Path(found))
    candidates += sorted(Path("/usr/lib/jvm").glob("*/bin/java"), reverse=True)
    seen = []
    for java in candidates:
        if not java.exists():
            continue
        version = java_version(java)
        seen.append(f"{java}: {version or '?'}")
        if version is not None and version >= major:
            return str(java)
    raise MavenUnavailable(
        f"{needed_by} needs Java {major}+; found "
        + ("; ".join(seen) or "no java")
        + f" (install the Debian package openjdk-{major}-jre-headless where there is one, "
        "or set JAVA_HOME to a newer JDK or JRE)"
    )


def fetch_jars(root: Path, name: str, body: str, out: Path, what: str) -> None:
    """Resolve the runtime dependencies that ``body`` declares into ``out`` (emptied first),
    with a POM written in ``root``; raise with Maven's own words when it cannot."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MavenUnavailable(
            f"Maven is needed once to fetch {what}: install the Debian package maven"
        )
    (root / "pom.xml").write_text(POM.format(name=name, body=body))
    shutil.rmtree(out, ignore_errors=True)
    with progress(f"maven: fetching {what} (first time only)"):
        run_checked(
            [
                mvn,
                "-B",
                "-ntp",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={out}",
            ],
            root,
        )


def run_checked(argv: list[str], cwd: Path) -> None:
    """Run Maven or Java; on failure, raise with what they printed (Maven's errors go to
    stdout)."""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        argv, cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        said = (result.stdout + result.stderr).strip()[-4000:]
        raise MavenUnavailable(f"`{' '.join(argv[:4])} ...` failed in {cwd}:\n{said}")
