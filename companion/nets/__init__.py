"""Deep unmixing networks, one module per paper."""
