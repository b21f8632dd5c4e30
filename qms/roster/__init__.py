"""The on-call roster of the key roles: rotations, overrides, iCalendar imports, coverage and paging."""
