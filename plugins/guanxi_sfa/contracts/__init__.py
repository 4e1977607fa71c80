"""Contracts from won opportunities and the approval flow quotes and contracts share (SFA-13)."""
