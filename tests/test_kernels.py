"""The tests' Jupyter kernels run on Unix sockets (tests/kernels.py): no TCP port for two workers to race for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets.config import Config

from kernels import AsyncIPCKernelManager, IPCKernelManager, unix_socket_config

ROOT = Path(__file__).resolve().parents[1]
TRANSPORT = ("import ipykernel.connect\n"
             "info = ipykernel.connect.get_connection_info(unpack=True)\n"
             "print(info['transport'], info['ip'])")


def test_notebook_client_kernel_listens_on_its_own_unix_sockets(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(TRANSPORT)])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", kernel_manager_class=AsyncIPCKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    transport, ip = nb.cells[0].outputs[0]["text"].split()
    assert transport == "ipc" and ip.endswith("-ipc"), (transport, ip)
    assert not list(Path(ip).parent.glob(Path(ip).name + "-*")), "sockets left behind"


def test_two_managers_never_share_a_socket():
    first, second = IPCKernelManager(kernel_name="python3"), IPCKernelManager(kernel_name="python3")
    assert first.transport == second.transport == "ipc"
    assert first.connection_file != second.connection_file and first.ip != second.ip


def test_nbgrader_course_config_puts_autograde_kernels_on_unix_sockets(tmp_path):
    c = Config()
    exec(unix_socket_config(tmp_path), {"c": c})
    manager = AsyncKernelManager(config=c)   # what nbgrader's NotebookClient makes, with the course's config
    assert manager.transport == "ipc" and Path(manager.ip).parent == tmp_path


def test_nbval_plugin_starts_notebook_kernels_on_unix_sockets(tmp_path):
    """What ``make test`` does for the notebooks (``-p tests.kernels``); without the plugin the cell fails (tcp)."""
    check = TRANSPORT + "\nassert info['transport'] == 'ipc', info['transport']"
    notebook = tmp_path / "transport.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(check)]), notebook)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "--nbval-lax",
               str(notebook)]
    with_plugin = subprocess.run(command[:4] + ["-p", "tests.kernels"] + command[4:], cwd=ROOT,
                                 capture_output=True, text=True, timeout=300)
    assert with_plugin.returncode == 0, with_plugin.stdout[-3000:]
    without = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    failed = without.returncode == 1 and "AssertionError" in without.stdout and ": tcp" in without.stdout
    assert failed, without.stdout[-3000:]
