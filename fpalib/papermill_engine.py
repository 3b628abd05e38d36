"""A papermill engine whose kernel talks over an encrypted transport: ``papermill --engine fpalib ...``.

ipykernel >= 7.3 logs ``[IPKernelApp] WARNING | Kernel is running over TCP without encryption ...``
on stderr at every kernel start unless the kernel manager hands it CurveZMQ keys. jupyter_client
provisions those keys only when ``KernelManager.transport_encryption`` is ``"auto"`` or
``"required"`` (its default is ``"disabled"``), and papermill's command line cannot set that. This
engine is papermill's default (nbclient) engine with ``transport_encryption = "auto"``: keys are
provisioned when the kernelspec declares support (ipykernel's does) and pyzmq has CURVE; with an
older jupyter_client or a pyzmq without CURVE it runs exactly as the default engine.

Registered as the ``papermill.engine`` entry point ``fpalib`` (pyproject.toml). papermill loads
every registered engine when it is imported, so this module imports neither torch nor the rest of
fpalib.
"""

from __future__ import annotations

import copy

from papermill.engines import NBClientEngine


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


class EncryptedNBClientEngine(NBClientEngine):
    """papermill's nbclient engine with CurveZMQ transport encryption (see the module docstring)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        kwargs["config"] = _encryption_config(kwargs.get("config"))
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)
