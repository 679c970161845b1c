//! bamf-events (placeholder; see the crate description).
