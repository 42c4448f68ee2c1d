"""actgrad.cli: the Typer command line, rendering results with rich, plain lines or JSON."""
