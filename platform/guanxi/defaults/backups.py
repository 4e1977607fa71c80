"""The daily backup job (DATA-13)."""
