"""The plugin host: loads plugins, collects what they register, isolates the broken ones.

Plugins come from the ``benchsuite`` entry-point group (the built-ins too) and from ``.py``
files in a plugin directory. Every import and every registration hook runs on its own, so a
plugin that fails to import or registers something that breaks the contract is reported by
name with the reason, and all the others still load.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from benchsuite import hookspecs
from benchsuite.api import BenchsuiteError, Dataset, HardwareProfile, Method

ENTRY_POINT_GROUP = "benchsuite"
PLUGINS_DIR_ENV = "BENCHSUITE_PLUGINS_DIR"

_KINDS: dict[str, tuple[str, type]] = {
    "methods": ("benchsuite_register_methods", Method),
    "datasets": ("benchsuite_register_datasets", Dataset),
    "hardware": ("benchsuite_register_hardware", HardwareProfile),
}


@dataclass
class PluginInfo:
    """One loaded plugin: where it came from and which hooks it implements."""

    name: str
    source: str
    version: str
    module: ModuleType | None = None
    hooks: list[str] = field(default_factory=list)


@dataclass
class PluginFailure:
    """A plugin, or one thing it registered, that could not be used, and why."""

    plugin: str
    source: str
    reason: str


@dataclass
class Registered:
    """A registered class with the plugin that provided it."""

    cls: type
    plugin: PluginInfo

    @property
    def name(self) -> str:
        return str(self.cls.name)

    @property
    def summary(self) -> str:
        return str(self.cls.summary)


class Host:
    """The loaded plugins and everything they registered."""

    def __init__(
        self,
        plugins_dir: str | Path | None = None,
        *,
        entry_points: bool = True,
        plugins: dict[str, ModuleType] | None = None,
    ):
        """Load plugins from entry points, the plugin directory and ``plugins`` (name -> module,
        for programs that embed benchsuite with plugins of their own)."""
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        if entry_points:
            self._load_entry_points()
        if plugins_dir:
            self._load_directory(Path(plugins_dir), "--plugins-dir")
        elif os.environ.get(PLUGINS_DIR_ENV):
            self._load_directory(Path(os.environ[PLUGINS_DIR_ENV]), PLUGINS_DIR_ENV)
        for name, module in (plugins or {}).items():
            version = str(getattr(module, "__version__", "unversioned"))
            self._register(name, module, f"module {module.__name__}", version)
        self.registry: dict[str, dict[str, Registered]] = {
            kind: self._collect(kind) for kind in _KINDS
        }
        self.suites: dict[str, Path] = self._collect_suites()

    # -- loading -----------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            version = dist.version if dist is not None else "unknown"
            source = f"entry point {ep.value}" + (f" ({dist.name} {version})" if dist else "")
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not stop the others
                self.failures.append(PluginFailure(ep.name, source, _describe(exc)))
                continue
            self._register(ep.name, module, source, version)

    def _load_directory(self, directory: Path, given_by: str) -> None:
        if not directory.is_dir():
            raise BenchsuiteError(f"{given_by}: plugin directory {directory} is not a directory")
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            module_name = f"benchsuite_dirplugin_{path.stem}"
            try:
                spec = importlib.util.spec_from_file_location(module_name, path)
                if spec is None or spec.loader is None:
                    raise ImportError("not an importable Python file")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(module_name, None)
                self.failures.append(PluginFailure(path.stem, str(path), _describe(exc)))
                continue
            version = str(getattr(module, "__version__", "unversioned"))
            self._register(path.stem, module, str(path), version)

    def _register(self, name: str, module: ModuleType, source: str, version: str) -> None:
        if any(p.name == name for p in self.plugins):
            self.failures.append(
                PluginFailure(name, source, f"a plugin named {name!r} is already loaded")
            )
            return
        try:
            self.pm.register(module, name=name)
        except Exception as exc:  # pluggy rejects unknown benchsuite_* hooks and bad signatures
            self.failures.append(PluginFailure(name, source, _describe(exc)))
            return
        callers = self.pm.get_hookcallers(module) or []
        unknown = sorted(c.name for c in callers if c.spec is None)
        if unknown:
            self.pm.unregister(module)
            known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("benchsuite_")))
            self.failures.append(
                PluginFailure(name, source, f"implements unknown hook(s) {unknown}; known: {known}")
            )
            return
        hooks = sorted(c.name for c in callers)
        self.plugins.append(PluginInfo(name, source, version, module, hooks))

    # -- registration hooks ------------------------------------------------------------------

    def _impls(self, hook_name: str) -> list[tuple[PluginInfo, Callable[..., Any]]]:
        by_module = {id(p.module): p for p in self.plugins}
        caller = getattr(self.pm.hook, hook_name)
        return [
            (by_module[id(impl.plugin)], impl.function)
            for impl in caller.get_hookimpls()
            if id(impl.plugin) in by_module
        ]

    def _collect(self, kind: str) -> dict[str, Registered]:
        hook_name, base = _KINDS[kind]
        found: dict[str, Registered] = {}
        for plugin, function in self._impls(hook_name):
            try:
                returned = function()
            except Exception as exc:
                self._fail(plugin, f"{hook_name}() raised {_describe(exc)}")
                continue
            if not isinstance(returned, (list, tuple)):
                self._fail(
                    plugin, f"{hook_name}() must return a list, got {type(returned).__name__}"
                )
                continue
            for cls in returned:
                problem = contract_problem(cls, base)
                if problem is None and cls.name in found:
                    other = found[cls.name].plugin.name
                    noun = kind.removesuffix("s")
                    problem = f"{noun} name {cls.name!r} is already registered by {other!r}"
                if problem:
                    self._fail(plugin, problem)
                else:
                    found[cls.name] = Registered(cls, plugin)
        return dict(sorted(found.items()))

    def _collect_suites(self) -> dict[str, Path]:
        suites: dict[str, Path] = {}
        for plugin, function in self._impls("benchsuite_register_suites"):
            try:
                paths = [Path(p) for p in function()]
            except Exception as exc:
                self._fail(plugin, f"benchsuite_register_suites() raised {_describe(exc)}")
                continue
            for path in paths:
                if path.stem in suites:
                    self._fail(plugin, f"suite name {path.stem!r} is already registered")
                elif not path.is_file():
                    self._fail(plugin, f"suite file {path} does not exist")
                else:
                    suites[path.stem] = path
        return dict(sorted(suites.items()))

    def _fail(self, plugin: PluginInfo, reason: str) -> None:
        self.failures.append(PluginFailure(plugin.name, plugin.source, reason))

    # -- lookups -----------------------------------------------------------------------------

    def get(self, kind: str, name: str) -> Registered:
        """The registered class of ``kind`` named ``name``, or a clear error listing the names."""
        try:
            return self.registry[kind][name]
        except KeyError:
            allowed = ", ".join(self.registry[kind]) or "none registered"
            noun = kind.removesuffix("s")
            raise BenchsuiteError(f"unknown {noun} {name!r}; available: {allowed}") from None

    def get_or(self, error: type[BenchsuiteError], kind: str, name: Any, where: str) -> type:
        """Like :meth:`get`, returning the class, with ``where`` leading the error message."""
        try:
            return self.get(kind, str(name)).cls
        except BenchsuiteError as exc:
            raise error(f"{where}: {exc}") from None

    def notify(self, hook_name: str, **kwargs: Any) -> list[str]:
        """Call an event hook in every plugin; failures become warnings, never exceptions."""
        problems: list[str] = []
        for plugin, function in self._impls(hook_name):
            try:
                function(**_accepted(function, kwargs))
            except Exception as exc:
                message = f"plugin {plugin.name!r} {hook_name}: {_describe(exc)}"
                warnings.warn(message, RuntimeWarning, stacklevel=2)
                problems.append(message)
        return problems


def _accepted(function: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The hook arguments an implementation names: pluggy lets it take a subset, so a hook can
    gain an argument without breaking the plugins written before it."""
    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {name: value for name, value in kwargs.items() if name in params}


def contract_problem(cls: Any, base: type) -> str | None:
    """Why ``cls`` cannot be used as a ``base`` plugin class, or None when it can."""
    kind = base.__name__
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        return f"registered {cls!r}, which is not a subclass of benchsuite.api.{kind}"
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        return f"{kind} {cls.__name__} needs a `name` that is an identifier (got {name!r})"
    if not isinstance(cls.summary, str) or not cls.summary.strip():
        return f"{kind} {name!r} needs a one-line `summary`"
    if not isinstance(cls.defaults, dict):
        return f"{kind} {name!r}: `defaults` must be a dict of parameter defaults"
    required = {"Method": ("build",), "Dataset": ("batches", "num_samples", "fingerprint")}
    for attr in required.get(kind, ()):
        if getattr(cls, attr) is getattr(base, attr):
            return f"{kind} {name!r} does not implement `{attr}`"
    if kind == "Method":
        if cls.output not in ("per_feature", "pooled"):
            return f"Method {name!r}: `output` must be 'per_feature' or 'pooled'"
        from benchsuite.api import StatRequest

        if not all(isinstance(n, StatRequest) for n in cls.needs):
            return f"Method {name!r}: `needs` must be a tuple of benchsuite.api.StatRequest"
    return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
