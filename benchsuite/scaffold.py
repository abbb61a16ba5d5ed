"""``benchsuite new-plugin``: writes a method plugin package that works before it is changed.

The package is written from the templates in ``benchsuite/scaffold_template`` (files ending in
``.tmpl``, with ``{{placeholders}}``) into ``DIR/benchsuite-NAME``: ``pyproject.toml`` with the
entry point, the method module ``benchsuite_NAME.py`` (a plain hashed table that passes every
conformance check), a pytest file running the conformance kit on it, and a README. It is
written into a temporary folder first and renamed into place, so a failure leaves nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchsuite import __version__
from benchsuite.api import BenchsuiteError
from benchsuite.host import Host

TEMPLATES = Path(__file__).resolve().parent / "scaffold_template"
#: A plugin name (benchsuite.params' rule: an identifier once ``-`` reads as ``_``) that is also
#: a valid distribution name: ASCII, starting with a letter and ending with a letter or digit.
_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9_-]*[A-Za-z0-9])?$")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class Names:
    """Every name the package derives from the method's name."""

    name: str  # the method's and the entry point's name: `bloom`
    ident: str  # a Python identifier for test names: `bloom`
    dist: str  # the distribution and folder name: `benchsuite-bloom`
    module: str  # the importable module: `benchsuite_bloom`
    cls: str  # the Method subclass: `Bloom`

    @classmethod
    def of(cls, name: str) -> Names:
        ident = name.replace("-", "_").lower()
        words = [w for w in re.split(r"[-_]", name) if w]
        return cls(
            name=name,
            ident=ident,
            dist="benchsuite-" + ident.replace("_", "-"),
            module="benchsuite_" + ident,
            cls="".join(w[0].upper() + w[1:] for w in words),
        )


def check_name(name: str, host: Host) -> Names:
    """The derived names, or a clear error when ``name`` cannot name a new method plugin."""
    if not name.replace("-", "_").isidentifier() or not _NAME.match(name):
        raise BenchsuiteError(
            f"new-plugin: {name!r} is not a valid plugin name: use ASCII letters, digits, '_' "
            "and '-', starting with a letter and ending with a letter or digit (it also names "
            "the Python module and the package)"
        )
    methods = host.registry["methods"]
    if name in methods:
        owner = methods[name].plugin
        raise BenchsuiteError(
            f"new-plugin: a method named {name!r} is already registered by plugin "
            f"{owner.name!r} ({owner.source}); choose another name"
        )
    plugins = {p.name: p for p in host.plugins}
    if name in plugins:
        raise BenchsuiteError(
            f"new-plugin: a plugin named {name!r} is already loaded ({plugins[name].source}); "
            "choose another name"
        )
    return Names.of(name)


def render(text: str, values: dict[str, str], where: str) -> str:
    """``text`` with every ``{{key}}`` replaced; an unknown key is a bug in the template."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise BenchsuiteError(f"new-plugin: template {where} uses unknown {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(value, text)


def template_files(names: Names) -> dict[str, Path]:
    """Where each template goes in the package, relative to its folder."""
    return {
        "pyproject.toml": TEMPLATES / "pyproject.toml.tmpl",
        "README.md": TEMPLATES / "README.md.tmpl",
        f"{names.module}.py": TEMPLATES / "method.py.tmpl",
        f"tests/test_{names.ident}.py": TEMPLATES / "tests" / "test_method.py.tmpl",
    }


def new_plugin(name: str, parent: str | Path, host: Host) -> tuple[Path, list[Path]]:
    """Write the package for method ``name`` into ``parent/benchsuite-NAME``.

    Returns the folder and the files written. Refuses a folder that exists, and a name that is
    not valid or is taken by a registered method or a loaded plugin.
    """
    names = check_name(name, host)
    parent = Path(parent)
    if parent.exists() and not parent.is_dir():
        raise BenchsuiteError(f"new-plugin: --dir {parent} is not a folder")
    folder = parent / names.dist
    if folder.exists() or folder.is_symlink():
        raise BenchsuiteError(
            f"new-plugin: {folder} already exists; remove it or choose another --dir"
        )
    values = {
        "name": names.name,
        "ident": names.ident,
        "dist": names.dist,
        "module": names.module,
        "cls": names.cls,
        "benchsuite_version": _release(__version__),
    }
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{names.dist}-", dir=parent))
    except OSError as exc:
        raise BenchsuiteError(f"new-plugin: cannot write in {parent}: {exc}") from None
    try:
        written = []
        for relative, template in template_files(names).items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render(template.read_text(), values, template.name))
            written.append(folder / relative)
        staging.chmod(0o777 & ~_umask())
        try:
            os.rename(staging, folder)
        except OSError as exc:  # the folder appeared since the check above
            raise BenchsuiteError(f"new-plugin: cannot create {folder}: {exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder, written


def _release(version: str) -> str:
    """The public release part of a version (``0.1.0`` of ``0.1.0.dev3+g1234``) for the
    dependency; ``0`` when benchsuite runs from a source tree that is not installed."""
    match = re.match(r"\d+(\.\d+)*", version)
    return match.group(0) if match else "0"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
