"""A throwaway virtual environment to install plugin packages into, as a user would.

It sees this environment's packages (benchsuite, torch, setuptools, pip, pytest) through a
``.pth`` file, so installing a plugin with ``--no-deps`` or with its dependencies already
satisfied needs no network, and everything it installs stays in the throwaway folder: the test
environment is left as it was found. ``bin/`` holds ``pip``, ``benchsuite`` and ``pytest``
commands running on its interpreter, so a shell with ``env`` runs them as a user's would.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
from pathlib import Path

_COMMANDS = {
    "pip": ("pip._internal.cli.main", "main"),
    "benchsuite": ("benchsuite.cli", "main"),
    "pytest": ("pytest", "console_main"),
}


class PluginEnv:
    """A venv at ``root`` layered over the running interpreter's site-packages."""

    def __init__(self, root: Path) -> None:
        self.root = root
        venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
        self.bin = root / "bin"  # POSIX layout; the commands below are shebang scripts
        self.python = self.bin / "python"
        purelib = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        self.site_packages = Path(purelib)
        # addsitedir, not a bare path: it also runs the .pth files there (editable installs).
        lines = [f"import site; site.addsitedir({d!r})" for d in _site_dirs()]
        (self.site_packages / "_benchsuite_test_env.pth").write_text("\n".join(lines) + "\n")
        for command, (module, function) in _COMMANDS.items():
            script = self.bin / command
            script.write_text(
                f"#!{self.python}\nimport sys\nfrom {module} import {function}\n"
                f"sys.exit({function}())\n"
            )
            script.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(root),
            "PIP_NO_INDEX": "1",  # nothing is downloaded: a missing dependency fails loudly
            # pip's double negative (pypa/pip#5735): 0 means --no-build-isolation, so the
            # build uses the setuptools visible here instead of downloading one.
            "PIP_NO_BUILD_ISOLATION": "0",
            "PIP_CACHE_DIR": str(root / "pip-cache"),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONNOUSERSITE": "1",
        }

    def run(
        self, *args: str | Path, cwd: Path, expect: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        """Run a command of this environment (``benchsuite``, ``pip``…) in ``cwd``; fail with
        its output when its exit status is not ``expect`` (None: any)."""
        done = subprocess.run(
            [str(a) for a in args], cwd=cwd, env=self.env, capture_output=True, text=True
        )
        if expect is not None and done.returncode != expect:
            raise AssertionError(
                f"{' '.join(map(str, args))} exited {done.returncode}, expected {expect}\n"
                f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
            )
        return done

    def benchsuite(self, *args: str | Path, cwd: Path, expect: int | None = 0):
        return self.run(self.python, "-m", "benchsuite", *args, cwd=cwd, expect=expect)

    def pip(self, *args: str | Path, cwd: Path, expect: int | None = 0):
        return self.run(self.python, "-m", "pip", *args, cwd=cwd, expect=expect)


def _site_dirs() -> list[str]:
    """The running interpreter's site-packages folders (where benchsuite and torch are)."""
    dirs = [*site.getsitepackages()]
    if not sys.flags.no_user_site and site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [d for d in dict.fromkeys(dirs) if Path(d).is_dir()]
