"""The built-in sandbox backends (process, bwrap, docker), registered like any plugin."""
