//! The scheduler's unit tests: rounds, state, health, builder.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rds_pg_access::{AccessManager, RotateOutcome, pg_auth, rds_discovery};

use super::run::{listed, rotate_runs};
use super::*;

fn job(kind: JobKind, every: u64) -> Job {
    Job {
        integration: "orders".to_owned(),
        kind,
        every: Duration::from_secs(every),
    }
}

fn done() -> InstanceRun {
    InstanceRun::Done {
        counts: RunCounts {
            active: Some(3),
            swept: Some(1),
            ..RunCounts::default()
        },
    }
}

#[test]
fn rounds_fall_on_multiples_of_the_interval() {
    let at = |secs: u64, ms: u64| {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
    };
    let minute = Duration::from_secs(60);
    assert_eq!(until_next_round(at(120, 0), minute), minute);
    assert_eq!(
        until_next_round(at(121, 500), minute),
        Duration::from_millis(58_500)
    );
    assert_eq!(
        until_next_round(at(179, 999), minute),
        Duration::from_millis(1)
    );
}

#[test]
fn huge_intervals_never_overflow() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let state = ServiceState::new(t0);
    let sweep = Job {
        integration: "orders".to_owned(),
        kind: JobKind::Sweep,
        every: Duration::MAX,
    };
    state.register(&sweep);
    assert!(
        state
            .health(t0 + Duration::from_secs(86_400 * 365))
            .is_healthy()
    );
    state.started(&sweep);
    let failed = BTreeMap::from([(
        "a".to_owned(),
        InstanceRun::Failed {
            error: "refused".to_owned(),
        },
    )]);
    state.finished(&sweep, t0, Duration::MAX, Ok(listed(failed)));
    state.finished(&sweep, t0, Duration::MAX, Ok(listed(BTreeMap::new())));
    assert!(
        state
            .health(t0 + Duration::from_secs(86_400 * 365))
            .is_healthy()
    );
    assert_eq!(state.jobs()[0].total_duration, Duration::MAX);
    // The next round of a huge interval is far away, not a panic.
    assert!(until_next_round(t0, Duration::MAX) > Duration::from_secs(86_400 * 365));
}

#[test]
fn a_rotation_check_that_is_not_due_vanishes_no_instance() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let state = ServiceState::new(t0);
    let rotate = job(JobKind::Rotate, 3600);
    state.register(&rotate);
    let rotated = InstanceRun::Done {
        counts: RunCounts {
            rotated: Some(1),
            ..RunCounts::default()
        },
    };
    state.started(&rotate);
    let both = BTreeMap::from([("a".to_owned(), rotated.clone()), ("b".to_owned(), rotated)]);
    state.finished(&rotate, t0, Duration::from_millis(5), Ok(listed(both)));
    // The next checks find the rotation not due: that says nothing about the instances.
    for round in 1..=3 {
        state.started(&rotate);
        let at = t0 + Duration::from_secs(3600 * round);
        let not_due = rotate_runs(Ok(RotateOutcome::NotDue {
            last_rotated: None,
            due_at: None,
        }));
        state.finished(&rotate, at, Duration::from_millis(5), not_due);
    }
    let status = &state.jobs()[0];
    assert!(status.disappeared.is_empty(), "{:?}", status.disappeared);
    assert!(
        state
            .health(t0 + Duration::from_secs(3600 * 3 + 60))
            .is_healthy()
    );
}

#[test]
fn the_vanished_list_is_bounded_and_keeps_the_newest() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let state = ServiceState::new(t0);
    let sweep = job(JobKind::Sweep, 60);
    state.register(&sweep);
    // A fleet that is replaced instance by instance, 3 * MAX_DISAPPEARED times.
    let total = 3 * MAX_DISAPPEARED as u64;
    for i in 0..total {
        state.started(&sweep);
        let at = t0 + Duration::from_secs(60 * i);
        let runs = BTreeMap::from([(format!("db-{i:06}"), done())]);
        state.finished(&sweep, at, Duration::from_millis(5), Ok(listed(runs)));
    }
    let status = &state.jobs()[0];
    assert_eq!(status.disappeared.len(), MAX_DISAPPEARED);
    // The oldest were evicted; the most recent vanishings are all there.
    assert!(!status.disappeared.contains_key("db-000000"));
    let newest = format!("db-{:06}", total - 2);
    assert!(status.disappeared.contains_key(&newest), "{newest}");
}

#[test]
fn an_instance_that_disappears_is_kept_with_its_active_grants() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let state = ServiceState::new(t0);
    let sweep = job(JobKind::Sweep, 60);
    state.register(&sweep);
    let both = || BTreeMap::from([("a".to_owned(), done()), ("b".to_owned(), done())]);
    state.started(&sweep);
    state.finished(&sweep, t0, Duration::from_millis(5), Ok(listed(both())));

    // b is no longer discovered: reported with the 3 users it still had.
    state.started(&sweep);
    let later = t0 + Duration::from_secs(60);
    let only_a = BTreeMap::from([("a".to_owned(), done())]);
    state.finished(&sweep, later, Duration::from_millis(5), Ok(listed(only_a)));
    let status = &state.jobs()[0];
    assert!(!status.instances.contains_key("b"));
    assert_eq!(
        status.disappeared.get("b"),
        Some(&Disappeared {
            since: later,
            active_grants: Some(3)
        })
    );

    // Still missing a round later: still listed, since the first time.
    let only_a = BTreeMap::from([("a".to_owned(), done())]);
    state.finished(
        &sweep,
        later + Duration::from_secs(60),
        Duration::from_millis(5),
        Ok(listed(only_a)),
    );
    assert_eq!(
        state.jobs()[0].disappeared.get("b").map(|d| d.since),
        Some(later)
    );

    // Back again: no longer listed.
    state.finished(
        &sweep,
        later + Duration::from_secs(120),
        Duration::from_millis(5),
        Ok(listed(both())),
    );
    assert!(state.jobs()[0].disappeared.is_empty());
}

#[test]
fn healthy_until_two_intervals_pass_without_success() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let state = ServiceState::new(t0);
    let sweep = job(JobKind::Sweep, 60);
    state.register(&sweep);
    // Before any run: grace of two intervals from start.
    assert!(state.health(t0 + Duration::from_secs(119)).is_healthy());
    assert!(!state.health(t0 + Duration::from_secs(121)).is_healthy());

    state.started(&sweep);
    let runs = BTreeMap::from([
        ("a".to_owned(), done()),
        ("b".to_owned(), InstanceRun::Skipped),
    ]);
    state.finished(
        &sweep,
        t0 + Duration::from_secs(10),
        Duration::from_millis(5),
        Ok(listed(runs)),
    );
    assert!(state.health(t0 + Duration::from_secs(129)).is_healthy());
    let active = state.active_grants();
    assert_eq!(active.len(), 1);
    assert_eq!((active[0].instance.as_str(), active[0].active), ("a", 3));

    // b fails from then on: unhealthy once two intervals pass, naming b and its error.
    let runs = BTreeMap::from([
        ("a".to_owned(), done()),
        (
            "b".to_owned(),
            InstanceRun::Failed {
                error: "refused".to_owned(),
            },
        ),
    ]);
    state.started(&sweep);
    state.finished(
        &sweep,
        t0 + Duration::from_secs(70),
        Duration::from_millis(5),
        Ok(listed(runs)),
    );
    assert!(state.health(t0 + Duration::from_secs(129)).is_healthy());
    let health = state.health(t0 + Duration::from_secs(131));
    assert_eq!(health.problems.len(), 1, "{health:?}");
    assert_eq!(health.problems[0].instance.as_deref(), Some("b"));
    assert_eq!(health.problems[0].error.as_deref(), Some("refused"));
    let status = &state.jobs()[0];
    assert_eq!((status.runs, status.failures), (2, 1));
    assert_eq!(status.last_success, Some(t0 + Duration::from_secs(10)));
}

#[test]
fn a_whole_job_failure_is_reported_without_an_instance() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let state = ServiceState::new(t0);
    let sync = job(JobKind::Sync, 900);
    state.register(&sync);
    state.started(&sync);
    state.finished(
        &sync,
        t0,
        Duration::from_secs(1),
        Err("no credentials".to_owned()),
    );
    let health = state.health(t0 + Duration::from_secs(1801));
    assert_eq!(health.problems.len(), 1);
    assert_eq!(health.problems[0].instance, None);
    assert!(health.problems[0].to_string().contains("orders sync"));
}

fn manager(name: &str) -> AccessManager {
    let settings = rds_pg_access::integration_model::Settings::from_toml_str(&format!(
        "name = \"{name}\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
         [secret]\nenv = \"UNUSED\"\n[endpoint]\nhost = \"127.0.0.1\"\nport = 5432\n"
    ))
    .expect("settings");
    let source = pg_auth::StaticPassword::new("apono_connector", "x".to_owned().into());
    let credentials = rds_pg_access::IntegrationCredentials::shared(Arc::new(source));
    AccessManager::new(
        settings.integrations()[0].clone(),
        Arc::new(rds_discovery::StaticDirectory::new()),
        Arc::new(credentials),
    )
    .expect("manager")
}

#[test]
fn bad_schedules_are_refused_with_the_reason() {
    let built = Scheduler::builder().build();
    assert!(matches!(built, Err(SchedulerError::NoIntegration)));

    let short = Intervals::default().sync(Duration::from_millis(500));
    let built = Scheduler::builder()
        .integration(manager("orders"))
        .intervals(short)
        .build();
    match built {
        Err(
            e @ SchedulerError::IntervalTooShort {
                job: JobKind::Sync, ..
            },
        ) => {
            assert!(e.to_string().contains("sync interval is 0.500 s"), "{e}");
        }
        other => panic!("{other:?}"),
    }

    let built = Scheduler::builder()
        .integration(manager("orders"))
        .integration(manager("orders"))
        .build();
    assert!(matches!(built, Err(SchedulerError::DuplicateIntegration(n)) if n == "orders"));

    let scheduler = Scheduler::builder()
        .integration(manager("orders"))
        .integration(manager("billing"))
        .jobs([JobKind::Sweep])
        .build()
        .expect("valid");
    let jobs: Vec<_> = scheduler
        .jobs()
        .map(|j| (j.integration.as_str(), j.kind))
        .collect();
    assert_eq!(
        jobs,
        [("orders", JobKind::Sweep), ("billing", JobKind::Sweep)]
    );
    // Before any run: healthy (grace), and every job is listed with no runs.
    let state = scheduler.state();
    assert!(state.health(SystemTime::now()).is_healthy());
    assert!(state.jobs().iter().all(|j| j.runs == 0 && !j.in_progress));
}
