"""The local stand-in for AWS: a moto server, the template's resources, scim2-server, and pollers.

The handlers that run here are the ones Lambda runs, called with Lambda-shaped events.
"""
