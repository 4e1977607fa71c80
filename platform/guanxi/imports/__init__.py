"""Import of CSV and XLSX files as resumable background jobs (DATA-09)."""
