"""Where executions run: a worker per backend, out of the server process.

The worker contract is plain bytes (a serialized CreateJobRequest and a seed in, a serialized
JobResult out), so a worker can be a local process (``local``, the default) or run on another
machine. ``process`` is the worker's own program; this package imports nothing, so starting it
with ``python -m qsession.workers.process`` loads only what the worker needs.
"""
