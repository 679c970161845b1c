//! Benchmark commands; see BENCHMARKS.md. Each measures bamf and a bare
//! baseline in the same process and prints the ratio.
//!
//! - [`eventlog`]: append (one at a time, pipelined) against bare JetStream
//!   publishes; cold replay of 1,000,000 events into the runtime projection
//!   against a bare ordered-consumer read; restart from a snapshot.
//! - [`mem`]: peak-memory readings from `/proc/self/status`.

pub mod eventlog;
pub mod mem;
