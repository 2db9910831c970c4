"""scripts/services, split by service: common process and health code, one module per service."""
