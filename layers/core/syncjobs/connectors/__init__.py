"""Sources and targets behind small protocols, so more can come (see base.py)."""
