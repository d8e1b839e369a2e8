"""Root pytest configuration: the project's own plugins and shared fixtures live in tests/."""
