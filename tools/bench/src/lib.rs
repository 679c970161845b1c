//! Benchmark commands; see BENCHMARKS.md. Each measures bamf and a bare
//! baseline in the same process and prints the ratio.
//!
//! - [`eventlog`]: append (one at a time, pipelined) against bare JetStream
//!   publishes; cold replay of 1,000,000 events into the runtime projection
//!   against a bare ordered-consumer read; restart from a snapshot.
//! - [`resources`]: authenticated `GET /api/v1/resources` (1,000 resources,
//!   100 roles) under concurrent keep-alive clients against `whoami` and
//!   `healthz` on the same in-process bamf-api; [`rbac`] the pure RBAC cost
//!   per resource against cloning its label map.
//! - [`revocation`]: delay from a revocation answered by one replica to the
//!   first refusal by another, against one request to that replica.
//! - [`tunnel`]: throughput through the real bridge and agent against TCP
//!   and TLS relays of the same topology; session set-up latency from
//!   `POST /connect` to the first echoed byte; bridge memory per idle
//!   paired session, the bridge in a process of its own.
//! - [`audit`]: `sessions watch` event-to-output latency against a bare
//!   ordered consumer; `audit export` to a file against a bare durable
//!   consume of the same records.
//! - [`stack`]: bamf-api replicas in-process on testkit backends, and a JSON
//!   client; [`load`]: the closed-loop HTTP load generator; [`stats`]:
//!   percentiles and tables; [`mem`]: peak memory and CPU time from `/proc`
//!   (including how busy the rest of the machine was during a run).

pub mod audit;
pub mod bins;
pub mod eventlog;
pub mod load;
pub mod mem;
pub mod rbac;
pub mod resources;
pub mod revocation;
pub mod stack;
pub mod stats;
pub mod tunnel;
