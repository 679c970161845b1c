//! bamf-api (placeholder; see the crate description).
