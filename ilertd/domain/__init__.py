"""Pure product rules: no I/O, no threads, no wall clock."""
