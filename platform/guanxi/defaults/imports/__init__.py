"""Import screens and the import job (DATA-09)."""
