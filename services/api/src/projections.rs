//! The projections one API replica runs (ARCHITECTURE §2 "Reading"): the
//! in-memory runtime view (with snapshots in JetStream, so a restart replays
//! only the tail) and the PostgreSQL read models (`event_history` from
//! `BAMF_EVENTS`, `audit_records` — the audit search — from `BAMF_AUDIT`).
//! Also the `bamf-api projections rebuild` command.

use std::time::Duration;

use anyhow::Context;
use bamf_domain::control::ControlView;
use bamf_domain::RuntimeView;
use bamf_events::snapshot::SNAPSHOT_BUCKET;
use bamf_events::{ProjectionReader, ProjectionRunner, RunnerConfig, SnapshotStore};
use tracing::{info, warn};

use crate::readmodel::{self, AuditRecords, EventHistory, PgRunner, RebuildReport};
use crate::startup::Backends;

/// The running projections of this replica.
pub struct Projections {
    control: ProjectionRunner<ControlView>,
    runtime: ProjectionRunner<RuntimeView>,
    history: PgRunner,
    audit: PgRunner,
}

impl Projections {
    /// Loads the runtime view's snapshot and resumes every projection from
    /// where it stands. The audit search keeps records for `audit_retention`
    /// (`audit_search_retention`).
    pub async fn start(backends: &Backends, audit_retention: Duration) -> anyhow::Result<Self> {
        let snapshots = SnapshotStore::open(&backends.js, SNAPSHOT_BUCKET)
            .await
            .context("cannot open the snapshot store")?;
        let control = ProjectionRunner::<ControlView>::start(
            &backends.js,
            RunnerConfig::default(),
            Some(snapshots.clone()),
        )
        .await
        .context("cannot start the control projection")?;
        let runtime = ProjectionRunner::<RuntimeView>::start(
            &backends.js,
            RunnerConfig::default(),
            Some(snapshots),
        )
        .await
        .context("cannot start the runtime projection")?;
        let history = PgRunner::start(backends.pool.clone(), &backends.js, EventHistory)
            .await
            .context("cannot start the event_history read model")?;
        let audit = PgRunner::start(
            backends.pool.clone(),
            &backends.js,
            AuditRecords {
                retention: audit_retention,
            },
        )
        .await
        .context("cannot start the audit_records read model")?;
        Ok(Projections {
            control,
            runtime,
            history,
            audit,
        })
    }

    /// A read handle on the control view (users, logins, roles, tokens, agents).
    pub fn control(&self) -> ProjectionReader<ControlView> {
        self.control.reader()
    }

    /// A read handle on the runtime view.
    pub fn runtime(&self) -> ProjectionReader<RuntimeView> {
        self.runtime.reader()
    }

    /// The event history read model's runner (read-your-writes waits).
    pub fn history(&self) -> &PgRunner {
        &self.history
    }

    /// The audit search read model's runner.
    pub fn audit(&self) -> &PgRunner {
        &self.audit
    }

    /// Stops every projection; the runtime view writes its final snapshot.
    pub async fn stop(self) {
        if let Err(error) = self.control.stop().await {
            warn!(error = %error, "control projection ended with an error");
        }
        if let Err(error) = self.runtime.stop().await {
            warn!(error = %error, "runtime projection ended with an error");
        }
        if let Err(error) = self.history.stop().await {
            warn!(error = %error, "event_history read model ended with an error");
        }
        if let Err(error) = self.audit.stop().await {
            warn!(error = %error, "audit_records read model ended with an error");
        }
    }
}

/// `bamf-api projections rebuild`: empties every PostgreSQL read model and
/// replays its stream into it (`BAMF_EVENTS`, `BAMF_AUDIT` for the audit
/// search, which keeps `audit_retention`). Stop the API replicas first: a
/// running replica would go on from its own position meanwhile.
pub async fn rebuild(
    backends: &Backends,
    audit_retention: Duration,
) -> anyhow::Result<Vec<RebuildReport>> {
    let history = readmodel::rebuild(&backends.pool, &backends.js, EventHistory)
        .await
        .context("cannot rebuild the event_history read model")?;
    info!(
        projection = history.projection,
        replayed = history.replayed,
        seq = history.seq,
        "rebuilt"
    );
    let audit = readmodel::rebuild(
        &backends.pool,
        &backends.js,
        AuditRecords {
            retention: audit_retention,
        },
    )
    .await
    .context("cannot rebuild the audit_records read model")?;
    info!(
        projection = audit.projection,
        replayed = audit.replayed,
        seq = audit.seq,
        "rebuilt"
    );
    Ok(vec![history, audit])
}
