//! bamf-tunnel (placeholder; see the crate description).
