"""Methods as the trainer runs them: submissions (sandboxed) and registered methods (trusted)."""
