"""OSC handlers, one module per domain (after AbletonOSC): each registers its own addresses
from the table in bridge.osc.addresses against the dispatcher."""
