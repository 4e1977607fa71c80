"""Storage: engines and transactions, tables from metadata, online schema sync, queries."""
