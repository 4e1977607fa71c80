"""Products, price lists, quotes and print templates (SFA-12, SFA-15, DATA-18)."""
