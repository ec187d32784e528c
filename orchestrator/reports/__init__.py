"""btfarm."""
