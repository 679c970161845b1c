//! bamf-domain (placeholder; see the crate description).
