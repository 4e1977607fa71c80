"""Guanxi (关系): a small CRM core driven by JSON Schema metadata and pluggy plugins."""

__version__ = "0.1.0"
