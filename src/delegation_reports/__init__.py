"""delegation-reports: who used which MSSanté personal mailbox, on whose behalf, and when."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("delegation-reports")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
