"""syncd: keeps 7pace Timetracker licences in step with directory groups."""

__version__ = "0.1.0"
