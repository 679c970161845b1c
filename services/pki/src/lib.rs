//! bamf-pki (placeholder; see the crate description).
