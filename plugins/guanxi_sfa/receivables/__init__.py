"""Payment plans, received payments, receivables and sales targets (SFA-14, 16)."""
