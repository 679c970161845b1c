//! The projections one API replica runs (ARCHITECTURE §2 "Reading"): the
//! in-memory runtime view (with snapshots in JetStream, so a restart replays
//! only the tail) and the PostgreSQL read models. Also the
//! `bamf-api projections rebuild` command.

use anyhow::Context;
use bamf_domain::control::ControlView;
use bamf_domain::RuntimeView;
use bamf_events::snapshot::SNAPSHOT_BUCKET;
use bamf_events::{ProjectionReader, ProjectionRunner, RunnerConfig, SnapshotStore};
use tracing::{info, warn};

use crate::readmodel::{self, EventHistory, PgRunner, RebuildReport};
use crate::startup::Backends;

/// The running projections of this replica.
pub struct Projections {
    control: ProjectionRunner<ControlView>,
    runtime: ProjectionRunner<RuntimeView>,
    history: PgRunner,
}

impl Projections {
    /// Loads the runtime view's snapshot and resumes every projection from
    /// where it stands.
    pub async fn start(backends: &Backends) -> anyhow::Result<Self> {
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
        Ok(Projections {
            control,
            runtime,
            history,
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
    }
}

/// `bamf-api projections rebuild`: empties every PostgreSQL read model and
/// replays `BAMF_EVENTS` into it. Stop the API replicas first: a running
/// replica would go on from its own position meanwhile.
pub async fn rebuild(backends: &Backends) -> anyhow::Result<Vec<RebuildReport>> {
    let history = readmodel::rebuild(&backends.pool, &backends.js, EventHistory)
        .await
        .context("cannot rebuild the event_history read model")?;
    info!(
        projection = history.projection,
        replayed = history.replayed,
        seq = history.seq,
        "rebuilt"
    );
    Ok(vec![history])
}
