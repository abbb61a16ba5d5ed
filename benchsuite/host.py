"""The plugin host: loads plugins, collects what they register, isolates the broken ones.

Plugins come from the ``benchsuite`` entry-point group (the built-ins too) and from ``.py``
files in a plugin directory. Every import and every registration hook runs on its own, so a
plugin that fails to import or registers something that breaks the contract is reported by
name with the reason, and all the others still load. A disabled plugin is skipped by name
before it is imported; a traced host writes every hook call and its result to a stream.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import reprlib
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import pluggy

from benchsuite import hookspecs
from benchsuite.api import BenchsuiteError, Dataset, HardwareProfile, Method

ENTRY_POINT_GROUP = "benchsuite"
PLUGINS_DIR_ENV = "BENCHSUITE_PLUGINS_DIR"
DISABLE_ENV = "BENCHSUITE_DISABLE_PLUGINS"
TRACE_ENV = "BENCHSUITE_TRACE_HOOKS"

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
class DisabledPlugin:
    """A plugin that was found but not loaded because it was disabled, and what disabled it."""

    name: str
    source: str
    by: str


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
        disable: Mapping[str, str] | None = None,
        trace: TextIO | None = None,
    ):
        """Load plugins from entry points, the plugin directory and ``plugins`` (name -> module,
        for programs that embed benchsuite with plugins of their own).

        ``disable`` maps names of plugins not to load to what asked for it (``-p no:NAME``);
        a name no plugin has is an error, as it is a typo in this command. Names in
        ``$BENCHSUITE_DISABLE_PLUGINS`` are disabled too, but a name there that no plugin has
        is only a warning (``self.warnings``): the variable may serve several projects.
        ``trace`` (else ``sys.stderr`` when ``$BENCHSUITE_TRACE_HOOKS`` is set) receives a line
        for every hook call and its result.
        """
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.disabled: list[DisabledPlugin] = []
        self.warnings: list[str] = []
        if trace is None and os.environ.get(TRACE_ENV, "").strip() not in ("", "0"):
            trace = sys.stderr
        self._tracer = HookTracer(trace) if trace is not None else None
        eps = (
            sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
            if entry_points
            else []
        )
        files: list[Path] = []
        if plugins_dir:
            files = _plugin_files(Path(plugins_dir), "--plugins-dir")
        elif os.environ.get(PLUGINS_DIR_ENV):
            files = _plugin_files(Path(os.environ[PLUGINS_DIR_ENV]), PLUGINS_DIR_ENV)
        found = {ep.name for ep in eps} | {path.stem for path in files} | set(plugins or {})
        self._blocked = self._disabled_names(disable or {}, found)
        for ep in eps:
            self._load_entry_point(ep)
        for path in files:
            self._load_file(path)
        for name, module in (plugins or {}).items():
            source = f"module {module.__name__}"
            if not self._skip(name, source):
                version = str(getattr(module, "__version__", "unversioned"))
                self._register(name, module, source, version)
        self.registry: dict[str, dict[str, Registered]] = {
            kind: self._collect(kind) for kind in _KINDS
        }
        self.suites: dict[str, Path] = self._collect_suites()

    # -- loading -----------------------------------------------------------------------------

    def _disabled_names(self, disable: Mapping[str, str], found: set[str]) -> dict[str, str]:
        """Plugin name -> what disabled it, from ``disable`` and the environment variable."""
        known = ", ".join(sorted(found)) or "none"
        unknown = [by for name, by in disable.items() if name not in found]
        if unknown:
            raise BenchsuiteError(f"{', '.join(unknown)}: no such plugin; known plugins: {known}")
        by_name: dict[str, list[str]] = {}
        for name in _names(os.environ.get(DISABLE_ENV, "")):
            if name in found:
                by_name.setdefault(name, []).append(DISABLE_ENV)
            else:
                self.warnings.append(
                    f"{DISABLE_ENV} names {name!r}, which is not a plugin here; "
                    f"known plugins: {known}"
                )
        for name, by in disable.items():
            by_name.setdefault(name, []).append(by)
        return {name: " and ".join(dict.fromkeys(bys)) for name, bys in by_name.items()}

    def _skip(self, name: str, source: str) -> bool:
        """Whether plugin ``name`` is disabled; if so it is recorded as such."""
        by = self._blocked.get(name)
        if by is not None:
            self.disabled.append(DisabledPlugin(name, source, by))
        return by is not None

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        dist = getattr(ep, "dist", None)
        version = dist.version if dist is not None else "unknown"
        source = f"entry point {ep.value}" + (f" ({dist.name} {version})" if dist else "")
        if self._skip(ep.name, source):  # before ep.load(): a disabled module is never imported
            return
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not stop the others
            self.failures.append(PluginFailure(ep.name, source, _describe(exc)))
            return
        self._register(ep.name, module, source, version)

    def _load_file(self, path: Path) -> None:
        if self._skip(path.stem, str(path)):
            return
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
            return
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
                returned = self._call(plugin, hook_name, function, {})
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
                paths = [
                    Path(p) for p in self._call(plugin, "benchsuite_register_suites", function, {})
                ]
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

    def _call(
        self,
        plugin: PluginInfo,
        hook_name: str,
        function: Callable[..., Any],
        kwargs: dict[str, Any],
    ) -> Any:
        """Call one implementation: every hook call goes through here, so tracing sees all."""
        if self._tracer is None:
            return function(**kwargs)
        return self._tracer.call(plugin.name, hook_name, function, kwargs)

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
            disabled = "".join(f"; plugin {d.name!r} is disabled by {d.by}" for d in self.disabled)
            raise BenchsuiteError(
                f"unknown {noun} {name!r}; available: {allowed}{disabled}"
            ) from None

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
                self._call(plugin, hook_name, function, _accepted(function, kwargs))
            except Exception as exc:
                message = f"plugin {plugin.name!r} {hook_name}: {_describe(exc)}"
                warnings.warn(message, RuntimeWarning, stacklevel=2)
                problems.append(message)
        return problems


class HookTracer:
    """Writes a line when a hook implementation is called, with its arguments, and one when it
    returns or raises, indented by how deeply hook calls nest; values are shortened reprs, so a
    batch of tensors or a whole record stays one readable line."""

    PREFIX = "[hook] "

    def __init__(self, stream: TextIO, width: int = 120):
        self.stream = stream
        self.width = width
        self.depth = 0
        self._repr = reprlib.Repr()
        self._repr.maxlevel = 2
        self._repr.maxdict = self._repr.maxlist = self._repr.maxtuple = 4
        self._repr.maxset = self._repr.maxfrozenset = 4
        self._repr.maxstring = 40
        self._repr.maxother = 60

    def short(self, value: Any) -> str:
        """``repr(value)``, capped at ``width`` characters."""
        try:
            text = self._repr.repr(value)
        except Exception as exc:  # a broken __repr__ must not break the call it describes
            text = f"<{type(value).__name__}: repr raised {type(exc).__name__}>"
        return text if len(text) <= self.width else text[: self.width - 1] + "…"

    def call(
        self, plugin: str, hook: str, function: Callable[..., Any], kwargs: dict[str, Any]
    ) -> Any:
        """Call ``function(**kwargs)`` (plugin ``plugin``'s ``hook``), tracing it."""
        where = f"{'  ' * self.depth}{plugin}.{hook}"
        args = ", ".join(f"{name}={self.short(value)}" for name, value in kwargs.items())
        self._write(f"{where}({args})")
        self.depth += 1
        try:
            result = function(**kwargs)
        except BaseException as exc:
            self.depth -= 1
            self._write(f"{where} raised {_describe(exc)}")
            raise
        self.depth -= 1
        self._write(f"{where} -> {self.short(result)}")
        return result

    def _write(self, line: str) -> None:
        self.stream.write(self.PREFIX + line + "\n")
        self.stream.flush()


def _plugin_files(directory: Path, given_by: str) -> list[Path]:
    """The plugin files of a plugin directory: its ``.py`` files not starting with ``_``."""
    if not directory.is_dir():
        raise BenchsuiteError(f"{given_by}: plugin directory {directory} is not a directory")
    return [p for p in sorted(directory.glob("*.py")) if not p.name.startswith("_")]


def _names(text: str) -> list[str]:
    """The names in a comma-separated list, blanks dropped."""
    return [name.strip() for name in text.split(",") if name.strip()]


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
