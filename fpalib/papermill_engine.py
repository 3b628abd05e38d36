"""A papermill engine whose kernel writes nothing to stderr: ``papermill --engine fpalib ...``.

ipykernel >= 7.3 logs ``[IPKernelApp] WARNING | Kernel is running over TCP without encryption ...``
on stderr at every kernel start unless the kernel manager hands it CurveZMQ keys. jupyter_client
provisions those keys only when ``KernelManager.transport_encryption`` is ``"auto"`` or
``"required"`` (its default is ``"disabled"``), and papermill's command line cannot set that. This
engine is papermill's default (nbclient) engine with ``transport_encryption = "auto"``: keys are
provisioned when the kernelspec declares support (ipykernel's does) and pyzmq has CURVE; with an
older jupyter_client or a pyzmq without CURVE it runs without them, like the default engine.

Its kernel manager also sends no SIGINT on shutdown. jupyter_client interrupts the kernel before
every shutdown request; papermill shuts the kernel down only when it is idle (all cells run, or
one failed), where the interrupt does nothing, except that now and then (about one run in ten on
a busy CPU, with the default engine too) it lands while the kernel is still in a message handler
and the kernel logs ``[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel.`` on stderr.
Interrupting a cell that runs too long (``--execution-timeout``) is unchanged.

Registered as the ``papermill.engine`` entry point ``fpalib`` (pyproject.toml). papermill loads
every registered engine while it is imported, so this module imports neither torch nor the rest of
fpalib, and builds its classes on first access (module ``__getattr__``): importing it before
papermill would otherwise load it again, half-initialised, from papermill's entry points.
"""

from __future__ import annotations

import copy


def _encryption_config(config=None):
    """``config`` (a traitlets Config, or None) with ``KernelManager.transport_encryption = "auto"``
    where jupyter_client and pyzmq support it; a value already set is kept."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    config = Config() if config is None else copy.deepcopy(config)
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config.KernelManager.setdefault("transport_encryption", "auto")
    return config


ENGINE_CLASSES = ("EncryptedNBClientEngine", "QuietShutdownKernelManager")
_classes: dict[str, type] = {}


def __getattr__(name: str) -> type:
    if name in ENGINE_CLASSES:
        if not _classes:
            _build_classes()
        return _classes[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _build_classes() -> None:
    from jupyter_client.manager import AsyncKernelManager
    from papermill.engines import NBClientEngine   # imports papermill, which may ask this module for its engine

    if _classes:   # built meanwhile by that request
        return

    class QuietShutdownKernelManager(AsyncKernelManager):
        """nbclient's kernel manager without the SIGINT before a shutdown request (see the module docstring)."""

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:   # a shutdown request follows
                return
            await super()._async_interrupt_kernel()

    class EncryptedNBClientEngine(NBClientEngine):
        """papermill's nbclient engine with CurveZMQ transport encryption and a quiet kernel shutdown
        (see the module docstring); a ``config`` or ``kernel_manager_class`` given to papermill's
        ``execute_notebook`` is kept."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            kwargs["config"] = _encryption_config(kwargs.get("config"))
            kwargs.setdefault("kernel_manager_class", QuietShutdownKernelManager)
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    for cls in (EncryptedNBClientEngine, QuietShutdownKernelManager):
        cls.__qualname__ = cls.__name__
        _classes[cls.__name__] = cls
