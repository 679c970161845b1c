//! bamf-agent (placeholder; see the crate description).
