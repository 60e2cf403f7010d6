"""One function per handler: wires the store, the connectors and the engine for one step of a run.

Every step is safe to run twice (at-least-once triggers everywhere).
"""
