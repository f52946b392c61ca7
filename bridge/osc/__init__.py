"""The OSC control surface: DAWs and controllers set the session state and trigger jobs.

``server.create(daemon)`` builds the service (UDP server, dispatcher, feedback); the handler
modules (settings, knobs, jobs, reaper) each register their own addresses against the address
table in bridge.osc.addresses.
"""
