//! bamf-runtime (placeholder; see the crate description).
