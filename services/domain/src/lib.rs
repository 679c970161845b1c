//! bamf-domain: the pure core of bamf — ids and subject tokens, the event
//! envelope and the typed event catalogue, the projection contract and the
//! runtime projection. No async, no I/O, no clock: time and ids are passed in.
//!
//! Layout: [`subject`] (subject tokens, aggregate ids, `bamf.evt.…` subjects),
//! [`timestamp`] (RFC 3339 UTC µs), [`envelope`] (the wire envelope, strict
//! decoding), [`events`] (the catalogue: one data struct per type and version),
//! [`schema`] (JSON Schema generation for `schemas/`), [`seal`] (audit seals:
//! the chained digest, the export line, verification), [`ocsf`] (audit
//! records as OCSF events), [`projection`] (the fold contract),
//! [`runtime_view`] (the in-memory runtime projection), [`control`] (the
//! control plane's decisions) and [`tunnel`] (commands and heartbeats of the
//! tunnel path).

pub mod control;
pub mod envelope;
pub mod events;
pub mod ocsf;
pub mod projection;
pub mod runtime_view;
pub mod schema;
pub mod seal;
pub mod subject;
pub mod timestamp;
pub mod tunnel;

pub use envelope::{Actor, ActorKind, Envelope, EnvelopeError, SubjectRef};
pub use events::{Event, EventDecodeError};
pub use projection::{digest_of, Projection};
pub use runtime_view::RuntimeView;
pub use subject::{AggregateId, EventSubject, SubjectError};
pub use timestamp::Timestamp;
