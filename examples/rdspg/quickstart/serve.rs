//! `rdspg quickstart --serve`: the access API and the status page on the throwaway cluster,
//! with a fresh token, until Ctrl-C (README: "The access API, with curl").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rds_pg_access::AccessManager;
use rds_pg_access::audit::StdoutSink;
use rds_pg_access_service::api::{Action, Api, Caller, Callers};
use rds_pg_access_service::scheduler::{Intervals, JobKind, Scheduler};
use tokio::runtime::Runtime;

use super::server::Demo;
use super::steps::Steps;
use crate::output::Failure;

/// Serves until SIGINT or SIGTERM; the grants made meanwhile are swept every 10 s once they
/// expire.
pub(super) fn run(
    rt: &Runtime,
    demo: &Demo,
    manager: &AccessManager,
    listen: SocketAddr,
    steps: &mut Steps,
) -> Result<(), Failure> {
    // 256 random bits (two version-4 UUIDs' random parts come from the OS's generator).
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let callers = Callers::new()
        .with(
            Caller::for_token("quickstart", &token)
                .integration("*")
                .actions(Action::ALL),
        )
        .map_err(|e| Failure::job(e.to_string()))?;
    let audit = Arc::new(StdoutSink::new());
    let manager = manager.clone().with_audit(audit.clone());
    let (scheduler, listener) = steps.run("serve the access API", || {
        let scheduler = Scheduler::builder()
            .integration(manager.clone())
            .jobs([JobKind::Sweep])
            .intervals(Intervals::default().sweep(Duration::from_secs(10)))
            .build()
            .map_err(|e| e.to_string())?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(listen))
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        Ok((
            (scheduler, listener),
            format!(
                "status page http://{listen}/, API http://{listen}/v1/integrations/quickstart/ \
                 (Ctrl-C stops it and the server)"
            ),
        ))
    })?;
    println!("export RDSPG_API=http://{listen}/v1/integrations/quickstart");
    if let Some(ca) = &demo.ca {
        println!("export PGSSLROOTCERT={}", ca.display());
    }
    // Last: a reader may stop at this line.
    println!("export RDSPG_TOKEN={token}");
    let api = Arc::new(Api::new(callers).audit(audit).integration(manager));
    let shutdown = scheduler.shutdown_token();
    rt.block_on(async {
        let signals = tokio::spawn(rds_pg_access_service::shutdown_on_signals(shutdown.clone()));
        tokio::spawn(rds_pg_access_service::http::serve_with_api(
            listener,
            scheduler.state(),
            Some(Arc::clone(&api)),
            shutdown.clone(),
        ));
        scheduler.run().await;
        api.finish().await;
        signals.abort();
    });
    Ok(())
}
