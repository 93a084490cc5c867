"""Backend-independent logic shared by every adapter: no I/O lives in this package."""
