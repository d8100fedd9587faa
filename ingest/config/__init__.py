"""Configuration: dlt config resolution of the settings, and readable TOML errors."""
