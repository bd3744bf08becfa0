//! Consumes every worker handler of every ready module and forwards deliveries to it.
