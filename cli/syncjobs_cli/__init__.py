"""The `syncjobs` command: the admin API from a terminal, against AWS or the local stack."""
