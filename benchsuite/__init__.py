"""benchsuite: embedding compression methods for recommendation models, measured on equal terms."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("benchsuite")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
