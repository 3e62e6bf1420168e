"""Email through Django's mail backend (SMTP by default)."""
