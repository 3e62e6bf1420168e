"""Organizations (tenants), memberships with roles, and API tokens."""
