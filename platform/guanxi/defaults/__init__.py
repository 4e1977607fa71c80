"""Core features written as plugins: field types, history, stage rules."""
