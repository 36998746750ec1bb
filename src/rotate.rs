//! Rotating the connector's own password: [`AccessManager::rotate`](crate::AccessManager::rotate) and, step by step,
//! [`Rotation`].
//!
//! The password lives in a Secrets Manager secret (RDS's JSON shape) and in every instance the
//! integration selects. A rotation follows Secrets Manager's four steps
//! (<https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html>),
//! across the fleet:
//!
//! 0. **lock** ([`AccessManager::rotation`](crate::AccessManager::rotation)): on every instance, log in with `AWSCURRENT` (or,
//!    if a rotation was left unfinished, `AWSPENDING`) to the lock database and take the
//!    session-level advisory job lock `rotate` there, held until the rotation ends (also released when the process dies). A
//!    replica that finds an instance locked stops before changing anything, so two replicas
//!    never rotate at once, not even the secret.
//! 1. **begin** ([`Rotation::begin`], `createSecret`): put a new version with stage
//!    `AWSPENDING` that copies the current JSON with a new random password; if a version is
//!    already `AWSPENDING` (an earlier run stopped), reuse it, never make another.
//! 2. **set in the databases** ([`Rotation::set_in_databases`], `setSecret`): on every
//!    instance that does not have it yet, `ALTER ROLE CURRENT_USER WITH PASSWORD` the new
//!    password's SCRAM verifier (never the plaintext).
//! 3. **test logins** ([`Rotation::test_logins`], `testSecret`): read `AWSPENDING` back and
//!    log in with it on every instance, on a new connection.
//! 4. **finish** ([`Rotation::finish`], `finishSecret`): only when every instance accepted the
//!    new password, move `AWSCURRENT` to the new version (Secrets Manager makes the old one
//!    `AWSPREVIOUS`), then remove `AWSPENDING`.
//!
//! # States, and why every one of them logs in
//!
//! The state is in the secret's stages and the instances' passwords; nothing is kept locally.
//!
//! | state | secret | instances | who logs in | a new run |
//! |---|---|---|---|---|
//! | idle | `AWSCURRENT` = old | old | `AWSCURRENT` | rotates when due (or forced) |
//! | begun (crash or failure after 1) | `AWSCURRENT` = old, `AWSPENDING` = new | old | `AWSCURRENT` | reuses `AWSPENDING`, goes on at 2 |
//! | partly set (an instance down or failing in 2) | as begun | some new, some old | `AWSCURRENT` on the old ones, `AWSPENDING` on the new ones | reuses `AWSPENDING`, sets the rest |
//! | set (crash or failure in 3 or 4a) | as begun | new | `AWSPENDING` | tests, finishes |
//! | promoted (crash or failure in 4b) | `AWSCURRENT` = `AWSPENDING` = new | new | `AWSCURRENT` | removes `AWSPENDING` |
//!
//! While a password is `AWSPENDING` and already set on an instance,
//! [`pg_auth::SecretsManagerSource`] (the connector's credential source) tries `AWSPENDING`
//! after the server rejected `AWSCURRENT`, as AWS's rotation functions do: every state above
//! leaves a secret that logs in everywhere. An unfinished rotation is always finished by the
//! next run, due or not. Until then the old password stays `AWSCURRENT`: an instance that was
//! down while others changed keeps logging in with it.
//!
//! # Locks, and why a rotation does not stop sweeps or grants
//!
//! The `rotate` job lock is taken in the instance's lock database
//! ([`Integration::lock_database`](integration_model::Integration::lock_database)), so two
//! integrations of one instance with different home databases never rotate at once. It
//! excludes other rotations only. Sweeps, revocations and grants of the same connector go on
//! during a rotation, on purpose: `ALTER ROLE … PASSWORD` does not end the sessions already
//! open, and a new session logs in with `AWSCURRENT` or, on an instance that already has the
//! new password, `AWSPENDING` (the fallback above), so a rotation never makes their logins
//! fail. Making them wait (e.g. a `rdspg-cred:<connector>` lock taken exclusively by
//! rotations and shared by the rest) would let a slow or stuck rotation hold back
//! revocations, which must never wait on housekeeping.

pub use crate::manager::Rotation;
pub use crate::report::rotation::{
    AcceptedStage, InstanceRotation, RotateError, RotateOutcome, RotationReport, RotationStatus,
};
