"""Framework-light helpers shared by the whole product."""
