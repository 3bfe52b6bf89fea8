"""Jupyter kernels for tests that run side by side: on Unix sockets, not TCP ports.

``make test`` runs two pytest-xdist workers, and each starts kernels (nbval's, the student notebooks',
nbgrader autograde's). jupyter_client picks a TCP port by binding port 0 and closing it; the kernel binds
it a moment later, and in between the other worker's kernel or client can take it: the kernel dies with
"zmq.error.ZMQError: Address already in use" and the test fails with "Kernel didn't respond in 60 seconds"
(seen in a fresh-clone ``make test``; jupyter/nbconvert#1066). A Unix socket named after a fresh connection
file cannot be taken by anyone else.

Used as ``kernel_manager_class`` by tests/test_student.py and tests/test_check.py, through
:func:`unix_socket_config` by the tests' nbgrader courses, and by nbval: ``make test`` loads this module
as a pytest plugin (``-p tests.kernels``) for the notebooks.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager, KernelManager
from traitlets import HasTraits, default


class UnixSockets(HasTraits):
    """Kernel-manager defaults: ``ipc`` transport, sockets named after a connection file of their own.

    jupyter_client names ipc sockets ``<connection file>-ipc-<n>`` when the connection file is known
    before the sockets are chosen, and ``kernel-ipc-<n>`` in the working directory otherwise (shared by
    every worker there), so the connection file gets its unique name first. Both are removed when the
    kernel shuts down.
    """

    @default("transport")
    def _unix_sockets(self) -> str:
        return "ipc"

    @default("connection_file")
    def _fresh_connection_file(self) -> str:
        return os.path.join(tempfile.gettempdir(), f"nst-kernel-{uuid.uuid4().hex}.json")


class IPCKernelManager(UnixSockets, KernelManager):
    """A :class:`~jupyter_client.manager.KernelManager` on Unix sockets (nbval's)."""


class AsyncIPCKernelManager(UnixSockets, AsyncKernelManager):
    """An :class:`~jupyter_client.manager.AsyncKernelManager` on Unix sockets (nbclient's)."""


def unix_socket_config(course: Path) -> str:
    """nbgrader_config.py lines that start autograde's kernels on Unix sockets in ``course`` (one at a time)."""
    return ('\nc.KernelManager.transport = "ipc"   # tests/kernels.py: parallel test workers, no TCP port race\n'
            f'c.KernelManager.ip = {str(course / "kernel")!r}\n')


def pytest_configure(config) -> None:
    """As a plugin: nbval's kernels on Unix sockets too (nbval makes its KernelManager by that module name)."""
    try:
        import nbval.kernel
    except ImportError:
        return
    nbval.kernel.KernelManager = IPCKernelManager
