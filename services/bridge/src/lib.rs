//! bamf-bridge (placeholder; see the crate description).
