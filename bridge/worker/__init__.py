"""The GPU worker: generation on Ray Serve replicas, for daemons elsewhere (docs/cluster.md)."""
