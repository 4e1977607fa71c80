"""Entity metadata: schema files + plugin schemas + the admin overlay, merged and versioned."""
