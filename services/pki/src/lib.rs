//! bamf-pki: the internal CA and everything that decides, from a certificate
//! alone, who a peer is (ARCHITECTURE §3). The bridge admits a connection only
//! if [`BridgeClientVerifier`] accepts its session certificate; this crate is
//! what makes that safe.
//!
//! Layout, one concept per file:
//! - [`ca`]: create (ECDSA P-256, key file 0600) / load (refusing open key
//!   files) / export the CA; sign a [`Profile`] for a [`VerifiedCsr`] →
//!   [`Issued`] certificate plus its [`IssuanceRecord`] (`cert.issued`).
//! - [`profile`]: the four certificate profiles — SAN URIs, lifetimes, key usage.
//! - [`csr`]: the requester's fresh key and CSR; the CA's CSR check.
//! - [`names`]: the `bamf://<kind>/<value>` vocabulary and value syntax.
//! - [`claims`]: DER → typed claims or a specific [`ClaimsError`], never a panic
//!   (the field reader behind it is the private `fields.rs`).
//! - [`trust`]: [`CaTrust`], chain + time + claims + expectations (bridge id, side).
//! - [`verify`]: rustls verifiers and TLS configs for bridge, CLI and agent.
//! - [`renew`]: when to renew agent and bridge certificates.
//! - [`clock`], [`record`], [`error`].
//!
//! Time is always a parameter (`now: SystemTime`) or, for the verifiers rustls
//! calls, a [`Clock`]; nothing here reads the system clock behind the caller's
//! back, so tests inject time instead of sleeping. *ring* is the only crypto
//! provider.

pub mod ca;
pub mod claims;
pub mod clock;
pub mod csr;
pub mod error;
mod fields;
pub mod names;
pub mod profile;
pub mod record;
pub mod renew;
pub mod trust;
pub mod verify;

pub use ca::{Ca, CaConfig, Issued, CA_LIFETIME};
pub use claims::{
    claims_from_peer, parse_agent_claims, parse_bridge_claims, parse_claims, parse_session_claims,
    AgentClaims, BridgeClaims, PeerClaims, SessionClaims, SessionPeer,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use csr::{KeyAndCsr, VerifiedCsr};
pub use error::{CertKind, ClaimsError, PkiError, Side};
pub use names::SanKind;
pub use profile::{
    AgentProfile, AgentSessionProfile, BridgeProfile, ClientSessionProfile, Profile,
    AGENT_CERT_LIFETIME, BRIDGE_CERT_LIFETIME, SESSION_CERT_LIFETIME,
};
pub use record::IssuanceRecord;
pub use renew::{cert_validity, random_jitter, renewal_at, renewal_at_random, renewal_delay};
pub use trust::{CaTrust, SidePolicy};
pub use verify::{
    bridge_client_config, bridge_server_config, bridge_server_config_from_slot, crypto_provider,
    BridgeClientVerifier, BridgeServerVerifier, RejectHook, ServerCertSlot,
};
