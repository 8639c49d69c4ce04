//! HTTP client and CLI commands (see submodules).
