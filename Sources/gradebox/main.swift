import SandboxCore
// Replaced by the CLI entry point.
