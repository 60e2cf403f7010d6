"""Notification rules (pure), rendering (jinja2), links (presigned) and sending (SES, exactly once)."""
