"""Start and stop the worker: a local Ray cluster (or an existing one), Serve's HTTP proxy on
the address asked for, the application on it.

Ray's own processes are told the node is 127.0.0.1 and get no dashboard; what still listens
beyond loopback (Ray's gRPC ports, protected by Ray's cluster token) is in docs/cluster.md.
"""

from __future__ import annotations

import logging
from typing import Any

from bridge.worker.app import WorkerSettings, build_app, is_loopback

log = logging.getLogger(__name__)

APP_NAME = "musicgen-bridge"
DEFAULT_PORT = 9100


def check_exposure(host: str, token: str) -> None:
    """Refuse to listen beyond loopback without a token: anyone on the network could run
    the GPU and read every clip."""
    if not is_loopback(host) and not token:
        raise ValueError(
            f"refusing to listen on {host} without a token: anyone who can reach it could "
            "use the GPU. Pass --token (or set [model] worker_token or "
            "MUSICGEN_BRIDGE_WORKER_TOKEN), or listen on 127.0.0.1 and reach it through an "
            "SSH tunnel (docs/cluster.md)")


def start_worker(settings: WorkerSettings, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 *, ray_address: str | None = None, num_cpus: int | None = None,
                 ray_kwargs: dict[str, Any] | None = None) -> str:
    """Deploy the worker and return its URL once every replica has loaded the model."""
    import ray
    from ray import serve

    check_exposure(host, settings.resolved_token())
    if not ray.is_initialized():
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   **(ray_kwargs or {})}
        if ray_address:
            options["address"] = ray_address
        else:
            options.update(num_cpus=num_cpus, _node_ip_address="127.0.0.1")
        ray.init(**options)
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(settings), name=APP_NAME, route_prefix="/")
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    log.info("worker ready at %s: %s, %d replica(s)", url, settings.model, settings.replicas)
    return url


def stop_worker() -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()
    finally:
        ray.shutdown()
