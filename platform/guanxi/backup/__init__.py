"""Backup and verified restore (DATA-13)."""
