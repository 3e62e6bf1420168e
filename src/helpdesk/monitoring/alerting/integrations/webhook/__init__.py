"""A generic JSON webhook signed with HMAC-SHA256."""
