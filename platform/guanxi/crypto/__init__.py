"""Encryption at rest for sensitive fields (DATA-12)."""
