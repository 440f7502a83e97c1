"""The hub core: the sans-I/O CHF (`hub.Hub`) and everything it decides with — device logs, COSEM objects,
use cases, replies, state — on bytes and an injected clock. Ports: `han` (the radio), `store` (persistence).
See docs/architecture.md."""
