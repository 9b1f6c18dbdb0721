"""A static check of the azurerm code against the pinned provider's own documentation.

Used where the azurerm provider binary is not built (its build is too long for the test path):
every resource, argument, nested block argument and referenced attribute of every ``azurerm_*``
resource in infra/terraform must appear in ``website/docs`` of the provider at the commit
tools/devstack/tofu.py pins, and every top-level argument the docs mark Required must be set.
The docs come from the provider's module zip on the Go module proxy (about 18 MB, cached).
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import hcl2

from devstack import tofu

_ITEM = re.compile(r"^\* `([a-z0-9_]+)`(.*)$")
_BLOCK = re.compile(r"^(?:An?|The)\s+`([a-z0-9_]+)`\s+block")
_STOP = re.compile(r"^## (Attributes Reference|Timeouts|Import|API Providers)")
_META = {
    "count",
    "for_each",
    "depends_on",
    "lifecycle",
    "provider",
    "timeouts",
    "connection",
    "provisioner",
}
_REFERENCE = re.compile(r"\b(azurerm_[a-z0-9_]+)\.([a-z0-9_]+)(?:\[[^\]]*\])?\.([a-z0-9_]+)")


@dataclass
class ResourceDoc:
    """Argument names of a resource, its nested blocks, and its exported attributes."""

    top: set[str] = field(default_factory=set)
    required: set[str] = field(default_factory=set)
    blocks: dict[str, set[str]] = field(default_factory=dict)
    attributes: set[str] = field(default_factory=set)


def docs_dir() -> Path:
    """``website/docs`` of the pinned azurerm source (downloaded once by the go command)."""
    command = tofu.AZURERM.command
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{command.module}@{command.version}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Path(json.loads(out)["Dir"]) / "website" / "docs"


def changelog_version(docs: Path) -> str:
    text = (docs.parent.parent / "CHANGELOG.md").read_text()
    match = re.search(r"^## (\d+\.\d+\.\d+)", text, re.MULTILINE)
    assert match, "no release heading in CHANGELOG.md"
    return match.group(1)


def parse_doc(path: Path) -> ResourceDoc:
    doc = ResourceDoc()
    section: str | None = None  # None: not yet in the arguments; "": top level
    for line in path.read_text().splitlines():
        if re.match(r"^## Arguments? Reference", line):
            section = ""
            continue
        if _STOP.match(line):
            section = "#attributes" if line.startswith("## Attributes") else "#other"
            continue
        block = _BLOCK.match(line)
        if block and section not in (None, "#other"):
            if section == "#attributes":
                continue
            section = block.group(1)
            doc.blocks.setdefault(section, set())
            continue
        item = _ITEM.match(line)
        if not item or section is None or section == "#other":
            continue
        name, rest = item.groups()
        if section == "#attributes":
            doc.attributes.add(name)
        elif section == "":
            doc.top.add(name)
            if "(Required)" in rest:
                doc.required.add(name)
        else:
            doc.blocks[section].add(name)
    return doc


def _bodies(value: object) -> list[dict[str, object]]:
    items = value if isinstance(value, list) else [value]
    return [i for i in items if isinstance(i, dict)]


def _check_body(
    body: dict[str, object], allowed: set[str], doc: ResourceDoc, where: str, errors: list[str]
) -> None:
    for key, value in body.items():
        if key.startswith("__") or key in _META:
            continue
        if key == "dynamic":
            for dyn in _bodies(value):
                for name, spec in dyn.items():
                    contents = [c for s in _bodies(spec) for c in _bodies(s.get("content", []))]
                    _check_entry(name, contents, allowed, doc, where, errors)
            continue
        _check_entry(key, _bodies(value), allowed, doc, where, errors)


def _check_entry(
    key: str,
    bodies: list[dict[str, object]],
    allowed: set[str],
    doc: ResourceDoc,
    where: str,
    errors: list[str],
) -> None:
    if key not in allowed:
        errors.append(f"{where}: `{key}` is not an argument in the pinned azurerm docs")
        return
    if key in doc.blocks:
        for body in bodies:
            _check_body(body, doc.blocks[key], doc, f"{where}.{key}", errors)


def check_file(path: Path, docs: Path) -> list[str]:
    """Every problem found in one ``.tf`` file (empty when it agrees with the docs)."""
    errors: list[str] = []
    with path.open() as handle:
        tree = hcl2.load(handle)
    for kind, folder in (("resource", "r"), ("data", "d")):
        for entry in tree.get(kind, []):
            for rtype, instances in entry.items():
                if not rtype.startswith("azurerm_"):
                    continue
                doc_path = docs / folder / f"{rtype.removeprefix('azurerm_')}.html.markdown"
                if not doc_path.exists():
                    errors.append(f"{path.name}: {kind} {rtype} is not in the pinned azurerm")
                    continue
                doc = parse_doc(doc_path)
                for name, body in instances.items():
                    where = f"{path.name}: {rtype}.{name}"
                    for b in _bodies(body):
                        _check_body(b, doc.top, doc, where, errors)
                        missing = sorted(doc.required - set(b))
                        errors.extend(f"{where}: required `{m}` is missing" for m in missing)
    for entry in tree.get("provider", []):
        if "azurerm" in entry:
            errors.extend(_check_provider(entry["azurerm"], docs, path.name))
    errors.extend(_check_references(path, docs))
    return errors


def _check_provider(body: object, docs: Path, where: str) -> list[str]:
    index = parse_doc(docs / "index.html.markdown")
    features_doc = (docs / "guides" / "features-block.html.markdown").read_text()
    feature_names = set(re.findall(r"`([a-z0-9_]+)`", features_doc))
    errors: list[str] = []
    for b in _bodies(body):
        for key, value in b.items():
            if key.startswith("__") or key == "alias":
                continue
            if key not in index.top:
                errors.append(f"{where}: provider azurerm has no argument `{key}`")
            if key == "features":
                for feature in _bodies(value):
                    for block, inner in feature.items():
                        names = [block] + [k for i in _bodies(inner) for k in i]
                        errors.extend(
                            f"{where}: features has no `{n}`"
                            for n in names
                            if not n.startswith("__") and n not in feature_names
                        )
    return errors


def _check_references(path: Path, docs: Path) -> list[str]:
    errors: list[str] = []
    for rtype, _name, attr in set(_REFERENCE.findall(path.read_text())):
        doc_path = docs / "r" / f"{rtype.removeprefix('azurerm_')}.html.markdown"
        if not doc_path.exists():
            continue
        doc = parse_doc(doc_path)
        known = doc.top | doc.attributes | {"id"} | set().union(*doc.blocks.values())
        if attr not in known:
            errors.append(f"{path.name}: {rtype} exports no attribute `{attr}`")
    return errors
