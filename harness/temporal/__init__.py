"""The Temporal backend: each trial a durable workflow on a Temporal server.

The workflow is the pure core (``harness.core``) fed by activities that perform its
effects with the local backend's code, on any number of worker processes
(``harness worker``) on any number of machines. ``harness run --backend temporal``
starts one workflow per trial and writes their results into the run folder exactly as
the local backend does. Needs the ``temporal`` extra (``pip install 'harness[temporal]'``).
"""

from harness.temporal._options import DEFAULT_NAMESPACE, DEFAULT_TASK_QUEUE, TemporalOptions

__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_TASK_QUEUE", "TemporalOptions"]
