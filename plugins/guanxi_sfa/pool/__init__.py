"""Public customer pool (公海, SFA-10)."""
