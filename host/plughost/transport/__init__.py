"""Layer 2: plugin child processes: spawn, stdio pipes, stderr drain, reliable kill."""
