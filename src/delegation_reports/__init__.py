"""delegation-reports: who used which MSSanté personal mailbox, on whose behalf, and when."""

import sys
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("delegation-reports")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

# NOTE: jsonschema, which nbformat imports in every process that runs or converts a report
# notebook, checks the "iri" format with rfc3987-syntax whenever it is installed (Jupyter's
# dependencies bring it), and that module builds an Earley parser of the whole RFC 3987
# grammar as it is imported: 1.5 s of CPU in every command and every batch worker. Nothing
# here validates IRIs; jsonschema does without that one check when the module is absent.
sys.modules.setdefault("rfc3987_syntax", None)
