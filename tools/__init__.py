"""Generators that derive docs, the Max device and the REAPER package from the package's
contracts (run from a checkout: ``python -m tools.NAME [--write]``). Not part of the runtime."""
