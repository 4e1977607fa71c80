"""Products, price lists, quotes, contracts, approvals and print templates (SFA-12, 13, 15;
DATA-18)."""
