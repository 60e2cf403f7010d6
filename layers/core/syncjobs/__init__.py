"""syncjobs: scheduled identity-provisioning jobs that tell people what happened."""

__version__ = "0.1.0"
