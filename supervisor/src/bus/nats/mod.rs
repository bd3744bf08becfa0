//! The NATS JetStream backend (when `[nats]` is configured).
