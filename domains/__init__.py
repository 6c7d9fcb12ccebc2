"""Domain plugins, imported as ``sciPT.domains.<name>`` and registered through entry points."""
