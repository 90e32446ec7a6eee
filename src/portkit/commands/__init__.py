"""CLI commands, one module each, registered by portkit.cli.COMMAND_MODULES."""
