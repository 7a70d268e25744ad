"""A papermill engine that runs notebook after notebook in one warm kernel.

Starting a Jupyter kernel costs more than rendering a report, so a batch worker keeps one
kernel for all the notebooks it runs. Each run keeps papermill's semantics (the notebook's
parameters cell, the injected-parameters cell, per-cell metadata, an executed notebook to
keep as the run's record); before each run but the first the kernel's namespace is reset as a
fresh kernel's would be (user variables, output history, execution counter), so nothing one
practice's notebook left behind reaches the next one. The package's modules stay imported:
that import is what a warm kernel saves. A kernel that died or stopped answering is replaced
before the next run.

    with WarmKernel() as kernel:
        nb = kernel.execute(notebook, parameters)
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import nbformat
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillExecutionError

ENGINE_NAME = "delegation-reports-warm"
KERNEL_NAME = "python3"
# The report notebooks' modules, imported by a kernel as it starts (while the command prepares
# the warehouse), the name it binds removed: its namespace is that of any fresh kernel.
PRELOADED = (
    "delegation_reports.reports.monthly",
    "delegation_reports.reports.history",
    "delegation_reports.reports.overview",
)
KERNEL_ARGUMENTS = [
    # No IPython history: a database write per cell, and the documents' parameters
    # (practices, mailboxes) have no business in the user's shell history.
    "--HistoryManager.enabled=False",
    *(f"--IPKernelApp.exec_lines=import {module}" for module in PRELOADED),
    "--IPKernelApp.exec_lines=del delegation_reports",
]

# Run silently before each notebook but the first: a fresh kernel's namespace and counter.
# The reset ends with a full garbage collection; what survives it (the package's modules and
# their caches) is then frozen, so that the next reset's collection visits only what the last
# notebook made instead of every object of every imported module (65 ms each time). No name
# is left behind in the namespace.
_RESET = (
    "get_ipython().reset(new_session=False)\n"
    "get_ipython().execution_count = 1\n"
    "__import__('gc').freeze()\n"
)


class WarmKernelEngine(NBClientEngine):
    """papermill's nbclient engine, executing into the ``WarmKernel`` given as
    ``warm_kernel=`` instead of starting (and shutting down) a kernel of its own."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        warm_kernel: WarmKernel | None = None,
        **kwargs,
    ):
        if warm_kernel is None:
            raise ValueError(f"the {ENGINE_NAME} engine needs warm_kernel=")
        kwargs.pop("input_path", None)
        client = PapermillNotebookClient(
            nb_man,
            km=warm_kernel.manager(kernel_name),
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            resources={"metadata": {"path": str(warm_kernel.cwd)}},
            extra_arguments=KERNEL_ARGUMENTS,
            **kwargs,
        )
        if warm_kernel.client is not None:
            client.kc = warm_kernel.client
            warm_kernel.reset(client)
        try:
            return client.execute()
        finally:
            # Set by the first run, which started the kernel's client.
            warm_kernel.client = client.kc


papermill_engines.register(ENGINE_NAME, WarmKernelEngine)


class WarmKernel:
    """One kernel kept between notebook runs; a context manager that shuts it down."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="delegation-kernel-")
        self.cwd = Path(self._folder.name)
        self.km = None
        self.client = None
        self.runs = 0

    def manager(self, kernel_name: str = KERNEL_NAME):
        """The kernel manager, started by ``start`` or on the first run by nbclient, kept
        afterwards."""
        if self.km is None:
            # nbclient's own choice: an asynchronous client is what lets it notice a kernel
            # that died while it waits for the kernel's output.
            from jupyter_client.manager import AsyncKernelManager

            # Over Unix sockets in the kernel's private folder rather than TCP ports any
            # local user could reach (and a warning printed by every kernel).
            self.km = AsyncKernelManager(
                kernel_name=kernel_name, transport="ipc", ip=str(self.cwd / "kernel")
            )
            self.client = None
        return self.km

    def start(self) -> None:
        """Start the kernel now, without waiting for it: it starts and imports the reports'
        modules while this process does something else (prepares the warehouse). The first
        run waits for it to be ready."""
        km = self.manager()
        if not km.has_kernel:
            from jupyter_core.utils import run_sync

            # Where nbclient would start it: the kernel's private folder.
            run_sync(km.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, cwd=str(self.cwd))

    def reset(self, client: PapermillNotebookClient) -> None:
        reply = client.wait_for_reply(
            client.kc.execute(_RESET, silent=True, store_history=False, allow_stdin=False)
        )
        if reply is None or reply["content"].get("status") != "ok":
            raise RuntimeError("the kernel could not be reset between two notebooks")

    def execute(self, notebook: Path | nbformat.NotebookNode, parameters: dict):
        """Run the notebook with ``parameters`` injected; the executed notebook.

        Raises papermill's ``PapermillExecutionError`` when a cell fails (the kernel stays
        in use); any other failure (a kernel that died, a reply that never came) replaces
        the kernel before the next run."""
        import papermill

        try:
            nb = papermill.execute_notebook(
                notebook,
                None,
                parameters=parameters,
                engine_name=ENGINE_NAME,
                kernel_name=KERNEL_NAME,
                progress_bar=False,
                log_output=False,
                warm_kernel=self,
            )
        except PapermillExecutionError:
            raise
        except BaseException:
            self.shutdown()
            raise
        finally:
            self.runs += 1
        return nb

    def pid(self) -> int | None:
        """The kernel's process id, while it runs."""
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def shutdown(self) -> None:
        """Stop the kernel (a new one starts on the next run)."""
        km, client = self.km, self.client
        self.km = self.client = None
        if client is not None:
            client.stop_channels()
        if km is not None and km.has_kernel:
            from jupyter_core.utils import run_sync

            # A kernel already gone needs no stopping.
            with contextlib.suppress(Exception):
                run_sync(km.shutdown_kernel)(now=True)

    def close(self) -> None:
        self.shutdown()
        self._folder.cleanup()

    def __enter__(self) -> WarmKernel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
