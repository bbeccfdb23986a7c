"""``lgsp``: run the hub's processes and talk to a running hub.

Process commands (``serve``, ``api``, ``worker``, ``db upgrade``, ``sandbox``) act on this
machine's settings. Client commands call the hub's API at ``--url`` with ``--key`` (or
``LGSP_URL`` / ``LGSP_API_KEY``, else the admin key file). Output is for people; ``--json`` is
for scripts. Errors are one line on stderr and exit code 1, never a stack trace.

One module per group of commands; each registers itself on ``app`` (``hub.cli.common``).
"""

from __future__ import annotations

from hub.cli import (  # noqa: F401  (they register)
    certs,
    connectors,
    deadletters,
    directory,
    documents,
    edxml,
    logs,
    mappings,
    messages,
    payments,
    processes,
    provinces,
    registry,
    registry_file,
    schemas,
    stats,
)
from hub.cli.common import app

__all__ = ["app"]
