"""``musicgen-bridge worker``: run the generation worker on this machine (docs/cluster.md).

Ray is imported only when the command runs: the daemon's side of the split needs no Ray.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from typing import Any

from bridge.engine.device_names import DEVICE_HELP, device_arg

log = logging.getLogger("bridge.worker")

TOKEN_ENV = "MUSICGEN_BRIDGE_WORKER_TOKEN"


def add_worker_parser(sub: Any) -> None:
    p = sub.add_parser(
        "worker", help="generate for daemons elsewhere (Ray Serve; needs the cluster extra)",
        description="Serve generation to remote daemons: model replicas on Ray Serve behind "
                    "one streaming HTTP endpoint. Needs `pip install musicgen-bridge[cluster]`.")
    p.add_argument("--config", metavar="PATH", help="config file ([model] name, device, "
                   "engine, worker_token)")
    p.add_argument("--model", help="hub id or local directory (default: config [model] name)")
    p.add_argument("--device", type=device_arg, help=DEVICE_HELP)
    p.add_argument("--engine", choices=("auto", "transformers", "fast"),
                   help="fast batches concurrent requests into one decode; auto: the config's")
    p.add_argument("--host", default="127.0.0.1",
                   help="HTTP listen address (default 127.0.0.1; anything else needs a token)")
    p.add_argument("--port", type=int, default=9100, help="HTTP port (default 9100)")
    p.add_argument("--token", help=f"bearer token clients must send (default: config [model] "
                   f"worker_token, else ${TOKEN_ENV})")
    p.add_argument("--replicas", type=int, default=1, help="model replicas (default 1)")
    p.add_argument("--gpus-per-replica", type=float,
                   help="default: 1 where CUDA is available, else 0 (CPU replicas)")
    p.add_argument("--cpus-per-replica", type=float, default=1.0)
    p.add_argument("--max-batch-size", type=int, default=4,
                   help="jobs decoded together at most (1: no batching; default 4)")
    p.add_argument("--batch-wait-ms", type=float, default=50.0,
                   help="how long a job waits for others to batch with (default 50)")
    p.add_argument("--ray-address", help="join this Ray cluster (default: start a local one)")
    p.add_argument("--log-level", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bridge import config as config_mod

    config = config_mod.load(args.config)
    logging.basicConfig(level=getattr(logging, args.log_level or config.log.level),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token or config.model.worker_token or os.environ.get(TOKEN_ENV, "")
    from bridge.worker.run import check_exposure

    check_exposure(args.host, token)  # before Ray starts: a refusal should be instant
    try:
        from bridge.worker.app import WorkerSettings
        from bridge.worker.run import start_worker, stop_worker
    except ImportError as err:
        raise RuntimeError(f"the worker needs Ray Serve ({err}); install it with "
                           "`pip install musicgen-bridge[cluster]`") from None
    gpus = args.gpus_per_replica
    if gpus is None:
        import torch

        gpus = 1.0 if torch.cuda.is_available() else 0.0
    settings = WorkerSettings(
        model=args.model or config.model.name, device=args.device or config.model.device,
        engine=args.engine or config.model.engine, cpu_int8=config.model.cpu_int8,
        replicas=args.replicas, gpus_per_replica=gpus, cpus_per_replica=args.cpus_per_replica,
        max_batch_size=args.max_batch_size, batch_wait_s=args.batch_wait_ms / 1000.0,
        token=token)
    shutdown = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: shutdown.set())
    url = start_worker(settings, args.host, args.port, ray_address=args.ray_address)
    print(f"musicgen-bridge worker ready at {url} ({settings.replicas} replica(s) of "
          f"{settings.model}); Ctrl-C stops it", flush=True)
    try:
        while not shutdown.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    stop_worker()
    return 0
