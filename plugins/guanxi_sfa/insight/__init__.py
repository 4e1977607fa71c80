"""Customer grading (SABC, RFM; SFA-11) and rep activity (SFA-17)."""
