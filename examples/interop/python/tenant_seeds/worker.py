"""Runs the Python half of the mixed example until its standard input closes.

    python -m tenant_seeds.worker --address 127.0.0.1:7233 \\
        --workflow-queue interop-py-workflow \\
        --activity-queue interop-py-activity-0 --activity-queue interop-py-activity-1 \\
        --activity-prefix interop-py

Its activities verify claims with the keys in ``CLAIM_SIGNING_KEYS``, for the namespace and the
``--activity-prefix`` their queues are routed under. Prints ``ready`` once its workers poll. The
Rust test (``examples/interop``) starts it, drives it through the Temporal server, and closes its
standard input (or kills it) when done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading

from temporalio.client import Client
from temporalio.worker import Worker

from tenant_seeds.signing import SigningKeys
from tenant_seeds.workflows import SeedsCall, SeedsProvision, configure, seeds_run_migrations


def _stdin_closed() -> asyncio.Future:
    """Resolves when standard input reaches its end. Read in a daemon thread, so a worker that
    fails first does not leave the process waiting on it at exit."""
    loop = asyncio.get_running_loop()
    closed = loop.create_future()

    def read() -> None:
        sys.stdin.read()
        try:
            loop.call_soon_threadsafe(closed.set_result, None)
        except RuntimeError:  # the loop is gone: nothing is waiting any more
            pass

    threading.Thread(target=read, daemon=True).start()
    return closed


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--workflow-queue", required=True)
    parser.add_argument("--activity-queue", action="append", default=[])
    parser.add_argument("--activity-prefix", required=True)
    args = parser.parse_args(argv)
    keys = SigningKeys.parse(os.environ["CLAIM_SIGNING_KEYS"])
    configure(keys, args.namespace, args.activity_prefix)

    client = await Client.connect(args.address, namespace=args.namespace)
    workers = [
        Worker(client, task_queue=args.workflow_queue, workflows=[SeedsProvision, SeedsCall])
    ]
    workers += [
        Worker(client, task_queue=queue, activities=[seeds_run_migrations])
        for queue in args.activity_queue
    ]
    runs = [asyncio.create_task(worker.run()) for worker in workers]
    print("ready", flush=True)
    # Until the parent closes our standard input (or dies, which closes it too); a worker that
    # fails ends the wait as well.
    stdin_closed = _stdin_closed()
    done, _ = await asyncio.wait([stdin_closed, *runs], return_when=asyncio.FIRST_COMPLETED)
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    for task in done:
        if task is not stdin_closed:
            task.result()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
