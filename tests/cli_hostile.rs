//! Hostile input at the command line (issue 15, RELIABILITY.md "Hostile input"): every `rdspg`
//! subcommand gets malformed arguments and settings files (empty, huge, NUL bytes, non-UTF-8,
//! wrong types, unknown keys, conflicting options, a directory, `/dev/zero`, a FIFO). Each case
//! must exit 2 with exactly one line on stderr that names the problem, print nothing on stdout,
//! finish within a minute, and change nothing in the database: the commands that reach
//! PostgreSQL run against a test cluster (with a managed user granted beforehand), whose
//! catalogs (roles, password hashes, memberships, comments, owners and ACLs) are compared
//! before and after the whole table.

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::rdspg_path;
use pg_testkit::TestCluster;

/// The environment variable holding the connector's password in the test settings.
const PASSWORD_ENV: &str = "RDSPG_HOSTILE_CONNECTOR_PW";

/// One malformed invocation: its arguments and a piece of the one stderr line that names the
/// problem.
struct Case {
    args: Vec<OsString>,
    names: &'static str,
}

fn os(text: &str) -> OsString {
    OsString::from(text)
}

fn path(p: &Path) -> OsString {
    p.as_os_str().to_owned()
}

/// Bytes that are not UTF-8 (Latin-1 `café`).
fn latin1() -> OsString {
    OsStr::from_bytes(b"caf\xe9").to_owned()
}

macro_rules! case {
    ($names:expr; $($arg:expr),* $(,)?) => {
        Case { args: vec![$(OsString::from($arg)),*], names: $names }
    };
}

/// Settings and policy files, good and bad, in a temporary directory.
struct Files {
    dir: tempfile::TempDir,
    good: PathBuf,
}

impl Files {
    fn new(cluster: &TestCluster) -> Files {
        let dir = tempfile::tempdir().expect("temp dir");
        let good_text = format!(
            "name = \"hostile\"\nregion = \"us-east-1\"\nauth = \"password\"\n\
             ssl_mode = \"disable\"\ndatabase = \"appdb\"\n[secret]\nenv = \"{PASSWORD_ENV}\"\n\
             [endpoint]\nhost = \"127.0.0.1\"\nport = {}\n",
            cluster.port()
        );
        let files = Files {
            good: dir.path().join("good.toml"),
            dir,
        };
        std::fs::write(&files.good, &good_text).expect("write");
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(files.dir.path().join(name), bytes).expect("write fixture");
        };
        write("empty.toml", b"");
        write("empty.json", b"");
        write("nul.toml", b"name = \"a\0b\"\nregion = \"us-east-1\"\n");
        write("nul.json", b"{\"Statement\": \"\0\"}");
        write("latin1.toml", b"name = \"caf\xe9\"\n");
        write("latin1.json", b"{\"Sid\": \"caf\xe9\"}");
        write("huge.toml", &vec![b'#'; 2 << 20]);
        write("huge.json", &vec![b' '; 2 << 20]);
        write(
            "unknown-key.toml",
            format!("{good_text}sslmode = \"require\"\n").as_bytes(),
        );
        write(
            "wrong-type.toml",
            good_text
                .replace(&format!("port = {}", cluster.port()), "port = \"5432\"")
                .as_bytes(),
        );
        write(
            "conflict.toml",
            good_text
                .replace("auth = \"password\"", "auth = \"iam\"")
                .as_bytes(),
        );
        write(
            "two.toml",
            b"[[integration]]\nname = \"a\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"a-db\" }\n\
              [[integration]]\nname = \"b\"\nregion = \"us-east-1\"\nauth = \"iam\"\ninstance = { id = \"b-db\" }\n",
        );
        write(
            "deep.toml",
            format!("name = {}1{}\n", "[".repeat(5000), "]".repeat(5000)).as_bytes(),
        );
        write(
            "deep.json",
            format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
        );
        let many: Vec<String> = (0..90_000).map(|i| format!("\"k{i}\":0")).collect();
        write(
            "many-keys.json",
            format!("{{{}}}", many.join(",")).as_bytes(),
        );
        write(
            "long-value.toml",
            format!("name = \"{}\"\n", "a".repeat(900_000)).as_bytes(),
        );
        write("dup-key.json", b"{\"name\": \"a\", \"name\": \"b\"}");
        write(
            "policy.json",
            br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds-db:connect","Resource":"arn:aws:rds-db:*:*:dbuser:*/${SAML:sub}"}]}"#,
        );
        write(
            "policy-unknown-key.json",
            br#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Resources":"*"}]}"#,
        );
        write(
            "policy-wrong-type.json",
            br#"{"Statement":[{"Effect":1,"Action":"*","Resource":"*"}]}"#,
        );
        write(
            "policy-principal.json",
            br#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
        );
        write(
            "policy-condition.json",
            br#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEqualz":{"k":"v"}}}]}"#,
        );
        write(
            "policy-vars.json",
            format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::{}"}}]}}"#,
                "${v}".repeat(1000)
            )
            .as_bytes(),
        );
        std::fs::create_dir(files.dir.path().join("dir.toml")).expect("mkdir");
        let fifo = files.dir.path().join("fifo.toml");
        let made = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("run mkfifo (coreutils)");
        assert!(made.success(), "mkfifo failed");
        files
    }

    fn at(&self, name: &str) -> OsString {
        path(&self.dir.path().join(name))
    }
}

/// Every case: subcommand, malformed argument or setting, and what the line must name.
fn cases(files: &Files) -> Vec<Case> {
    let good = path(&files.good);
    let f = |name: &str| files.at(name);
    let long_digits = "1".repeat(100_000);
    let long_duration = format!("1h{}", "9".repeat(100_000));
    let mut cases = vec![
        // No command, an unknown one, a bad global option.
        case!("no command given"; ),
        case!("unrecognized subcommand"; "frobnicate"),
        case!("--output"; "--output", "yaml", "validate", "--config", good.clone()),
        // policy
        case!("policy: give --config FILE"; "policy"),
        case!("--config"; "policy", "--integration", "x"),
        case!("nope"; "policy", "--config", good.clone(), "--integration", "nope"),
        case!("not a regular file"; "policy", "--config", f("dir.toml")),
        case!("account"; "policy", "connector", "--account", "12345"),
        case!("region"; "policy", "connector", "--region", ""),
        case!("resource"; "policy", "connector", "--resource-id", ""),
        case!("invalid UTF-8"; "policy", "connector", "--region", latin1()),
        case!("--frobnicate"; "policy", "connector", "--frobnicate"),
        case!("user"; "policy", "user", "--db-user", ""),
        case!("account"; "policy", "user", "--account", long_digits.clone()),
        case!("--require-persistent-sub"; "policy", "user", "--require-persistent-sub=yes"),
        case!("not a regular file"; "policy", "lint", f("dir.toml")),
        case!("not a regular file"; "policy", "lint", "/dev/zero"),
        case!("not a regular file"; "policy", "lint", f("fifo.toml")),
        case!("EOF while parsing"; "policy", "lint", f("empty.json")),
        case!("control character"; "policy", "lint", f("nul.json")),
        case!("not UTF-8"; "policy", "lint", f("latin1.json")),
        case!("larger than the limit"; "policy", "lint", f("huge.json")),
        case!("recursion limit"; "policy", "lint", f("deep.json")),
        case!("Resources"; "policy", "lint", f("policy-unknown-key.json")),
        case!("Effect"; "policy", "lint", f("policy-wrong-type.json")),
        case!("No such file"; "policy", "lint", path(Path::new(&latin1()))),
        case!("KEY=VALUE"; "policy", "eval", f("policy.json"), "--action", "rds-db:connect", "--resource", "*", "--var", "novalue"),
        case!("the key is empty"; "policy", "eval", f("policy.json"), "--action", "a:b", "--resource", "*", "--var", "=x"),
        case!("resource is 3000 characters"; "policy", "eval", f("policy.json"), "--action", "a:b", "--resource", "r".repeat(3000)),
        case!("Principal"; "policy", "eval", f("policy-principal.json"), "--action", "a:b", "--resource", "*"),
        case!("StringEqualz"; "policy", "eval", f("policy-condition.json"), "--action", "a:b", "--resource", "*"),
        case!("substitute more than"; "policy", "eval", f("policy-vars.json"), "--action", "a:b", "--resource", "arn:aws:s3:::x", "--var", format!("v={}", "x".repeat(2000))),
        case!("--action"; "policy", "eval", f("policy.json"), "--resource", "*"),
        case!("--action"; "policy", "eval", f("policy.json"), "--action", "a:b", "--action", "c:d", "--resource", "*"),
        // validate (the settings loader)
        case!("name: missing"; "validate", "--config", f("empty.toml")),
        case!("not a regular file"; "validate", "--config", f("dir.toml")),
        case!("not a regular file"; "validate", "--config", "/dev/zero"),
        case!("not a regular file"; "validate", "--config", f("fifo.toml")),
        case!("larger than the limit"; "validate", "--config", f("huge.toml")),
        case!("TOML syntax error"; "validate", "--config", f("nul.toml")),
        case!("not UTF-8"; "validate", "--config", f("latin1.toml")),
        case!("sslmode: unknown key"; "validate", "--config", f("unknown-key.toml")),
        case!("endpoint.port: expected an integer"; "validate", "--config", f("wrong-type.toml")),
        case!("secret"; "validate", "--config", f("conflict.toml")),
        case!("syntax error"; "validate", "--config", f("deep.toml")),
        case!("k0: unknown key"; "validate", "--config", f("many-keys.json")),
        case!("(900000 bytes)"; "validate", "--config", f("long-value.toml")),
        case!("duplicate key"; "validate", "--config", f("dup-key.json")),
        case!("--config"; "validate", "--config", ""),
        case!("cannot read"; "validate", "--config", path(Path::new(&latin1()))),
        case!("--config"; "validate"),
        // token
        case!("host"; "token", "--host", "", "--user", "u", "--region", "us-east-1"),
        case!("port"; "token", "--host", "db.example.com", "--port", "0", "--user", "u", "--region", "us-east-1"),
        case!("70000"; "token", "--host", "db.example.com", "--port", "70000", "--user", "u", "--region", "us-east-1"),
        case!("region"; "token", "--host", "db.example.com", "--user", "u", "--region", "moon-1"),
        case!("user"; "token", "--host", "db.example.com", "--user", "", "--region", "us-east-1"),
        case!("invalid UTF-8"; "token", "--host", latin1(), "--user", "u", "--region", "us-east-1"),
        // ping
        case!("--sslmode"; "ping", "--host", "127.0.0.1", "--user", "u", "--password-env", PASSWORD_ENV, "--sslmode", "sometimes"),
        case!("not a regular file"; "ping", "--host", "127.0.0.1", "--user", "u", "--password-env", PASSWORD_ENV, "--sslrootcert", f("dir.toml")),
        case!("not a regular file"; "ping", "--host", "127.0.0.1", "--user", "u", "--password-env", PASSWORD_ENV, "--sslrootcert", "/dev/zero"),
        case!("cannot be used with"; "ping", "--host", "127.0.0.1", "--user", "u", "--password-env", PASSWORD_ENV, "--iam", "--region", "us-east-1"),
        case!("--password-env"; "ping", "--host", "127.0.0.1", "--user", "u"),
        case!("-1"; "ping", "--host", "127.0.0.1", "--port", "-1", "--user", "u", "--password-env", PASSWORD_ENV),
        case!("--connect-timeout"; "ping", "--host", "127.0.0.1", "--user", "u", "--password-env", PASSWORD_ENV, "--connect-timeout", "soon"),
        // discover
        case!("--region"; "discover", "--region", "moon-1", "--instance-id", "orders-db"),
        case!("--instance-id"; "discover", "--region", "us-east-1", "--instance-id", "9orders"),
        case!("--tag"; "discover", "--region", "us-east-1", "--tag", ""),
        case!("--tag"; "discover", "--region", "us-east-1", "--tag", "team=a", "--tag", "team=b"),
        case!("cannot be used with"; "discover", "--region", "us-east-1", "--instance-id", "a", "--tag", "a=b"),
        case!("--endpoint-url"; "discover", "--region", "us-east-1", "--instance-id", "a", "--endpoint-url", "ftp://x"),
        case!("--profile"; "discover", "--region", "us-east-1", "--instance-id", "a", "--profile", "a b"),
        // quickstart
        case!("--pg-version 16"; "quickstart", "--pg-version", "16"),
        case!("--pg-version"; "quickstart", "--pg-version", "fifteen"),
        // serve
        case!("--listen"; "serve", "--config", good.clone(), "--listen", "0.0.0.0:9187"),
        case!("--listen"; "serve", "--config", good.clone(), "--listen", "localhost"),
        case!("--sweep-every"; "serve", "--config", good.clone(), "--sweep-every", "0s"),
        case!("--sync-every"; "serve", "--config", good.clone(), "--sync-every", "1x"),
        case!("--rotate-every"; "serve", "--config", good.clone(), "--rotate-every", long_duration.clone()),
        case!("--audit"; "serve", "--config", good.clone(), "--audit", f("dir.toml")),
        case!("not a regular file"; "serve", "--config", f("dir.toml")),
    ];
    // The commands that act on an integration: a bad settings file each, and bad flags against
    // the test cluster's good settings.
    let bad_settings = [
        ("not a regular file", f("dir.toml")),
        ("not a regular file", os("/dev/zero")),
        ("not a regular file", f("fifo.toml")),
        ("larger than the limit", f("huge.toml")),
        ("not UTF-8", f("latin1.toml")),
        ("TOML syntax error", f("nul.toml")),
        ("sslmode: unknown key", f("unknown-key.toml")),
        ("expected an integer", f("wrong-type.toml")),
        ("secret", f("conflict.toml")),
        ("holds several integrations", f("two.toml")),
        ("name: missing", f("empty.toml")),
        ("syntax error", f("deep.toml")),
        ("k0: unknown key", f("many-keys.json")),
        ("(900000 bytes)", f("long-value.toml")),
        ("duplicate key", f("dup-key.json")),
        ("cannot read", path(Path::new(&latin1()))),
    ];
    let commands: [&[&str]; 12] = [
        &["check"],
        &["sync"],
        &["inventory"],
        &["sweep"],
        &["users"],
        &["rotate"],
        &[
            "grant",
            "--user",
            "hostile_bob",
            "--level",
            "read-only",
            "--database",
            "appdb",
            "--for",
            "1h",
        ],
        &["revoke", "--user", "hostile_alice"],
        &["extend", "--user", "hostile_alice", "--for", "1h"],
        &["inspect", "--user", "hostile_alice"],
        &["policy"],
        &["serve"],
    ];
    // Every bad settings file for every command that reads one.
    for command in commands {
        for (names, file) in &bad_settings {
            // `serve` runs every integration of a file: two are valid for it.
            if command == ["serve"] && *names == "holds several integrations" {
                continue;
            }
            let mut args: Vec<OsString> = command.iter().map(|a| os(a)).collect();
            args.extend([os("--config"), file.clone()]);
            cases.push(Case { args, names });
        }
    }
    let on_good = |names: &'static str, args: &[&str]| {
        let mut all: Vec<OsString> = args.iter().map(|a| os(a)).collect();
        all.extend([os("--config"), good.clone()]);
        Case { args: all, names }
    };
    cases.extend([
        on_good("nope", &["users", "--integration", "nope"]),
        on_good("--force", &["users", "--force"]),
        on_good("--force", &["rotate", "--force=1"]),
        on_good(
            "--user",
            &[
                "grant",
                "--user",
                "",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                "1h",
            ],
        ),
        on_good(
            "--level",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "superuser",
                "--database",
                "appdb",
                "--for",
                "1h",
            ],
        ),
        on_good(
            "--for",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                "0s",
            ],
        ),
        on_good(
            "--for",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                "400d",
            ],
        ),
        on_good(
            "--for",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                "1h1h",
            ],
        ),
        on_good(
            "cannot be used with",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--resource",
                "appdb",
                "--for",
                "1h",
            ],
        ),
        on_good(
            "--database",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--schema",
                "s",
                "--for",
                "1h",
            ],
        ),
        on_good(
            "--resource",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--resource",
                "a/b/c/d/e",
                "--for",
                "1h",
            ],
        ),
        on_good(
            "--database",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "",
                "--for",
                "1h",
            ],
        ),
        on_good(
            "--request-id",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                "1h",
                "--request-id",
                " a",
            ],
        ),
        on_good(
            "--reason",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                "1h",
                "--reason",
                "ok\u{202E}",
            ],
        ),
        on_good(
            "--user",
            &[
                "grant",
                "--user",
                &"u".repeat(64),
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                "1h",
                "--dry-run",
            ],
        ),
        on_good(
            "--for",
            &[
                "grant",
                "--user",
                "hostile_bob",
                "--level",
                "read-only",
                "--database",
                "appdb",
                "--for",
                &long_duration,
            ],
        ),
        on_good("--user", &["revoke", "--user", ""]),
        on_good(
            "--request",
            &["revoke", "--user", "hostile_alice", "--request", ""],
        ),
        on_good(
            "--for",
            &["extend", "--user", "hostile_alice", "--for", "0m"],
        ),
        on_good(
            "--for",
            &["extend", "--user", "hostile_alice", "--for", "1d1d"],
        ),
        on_good(
            "--user",
            &["extend", "--user", &"u".repeat(64), "--for", "1h"],
        ),
        on_good(
            "--request",
            &[
                "extend",
                "--user",
                "hostile_alice",
                "--for",
                "1h",
                "--request",
                "\u{7}",
            ],
        ),
        on_good(
            "--database",
            &["inspect", "--user", "hostile_alice", "--database", ""],
        ),
        on_good("--user", &["inspect", "--user", ""]),
        on_good("--user", &["revoke"]),
    ]);
    // Non-UTF-8 values of text flags on commands that reach the database.
    for command in [
        ["revoke", "--user"],
        ["inspect", "--user"],
        ["extend", "--user"],
    ] {
        let mut args = vec![os(command[0]), os(command[1]), latin1()];
        if command[0] == "extend" {
            args.extend([os("--for"), os("1h")]);
        }
        args.extend([os("--config"), good.clone()]);
        cases.push(Case {
            args,
            names: "invalid UTF-8",
        });
    }
    cases
}

/// Runs rdspg with `args`; kills it after 60 s (a hang fails the case).
fn run(args: &[OsString], password: &str) -> (Option<i32>, String, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(rdspg_path())
        .args(args)
        .env(PASSWORD_ENV, password)
        // Nothing may reach AWS: no instance metadata, no real credentials, a closed endpoint.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIDHOSTILE")
        .env("AWS_SECRET_ACCESS_KEY", "hostile")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rdspg");
    let deadline = started + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// Roles with a hash of their password, memberships, comments on roles, databases, schemas,
/// tables and sequences with owners and ACLs: everything a grant, revoke, extend, sweep or
/// rotation changes.
fn snapshot(cluster: &TestCluster) -> String {
    let global = cluster
        .sql(
            "postgres",
            "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (\
               SELECT format('role %s login=%s until=%s conn=%s pw=%s', rolname, rolcanlogin, \
                      rolvaliduntil, rolconnlimit, md5(coalesce(rolpassword, ''))) AS x FROM pg_authid \
               UNION ALL SELECT format('member %s of %s admin=%s', member::regrole, roleid::regrole, \
                      admin_option) FROM pg_auth_members \
               UNION ALL SELECT format('comment %s %s: %s', classoid::regclass, objoid, description) \
                      FROM pg_shdescription \
               UNION ALL SELECT format('database %s owner=%s acl=%s', datname, datdba::regrole, datacl) \
                      FROM pg_database) s",
        )
        .expect("global snapshot");
    let appdb = cluster
        .sql(
            "appdb",
            "SELECT string_agg(x, E'\\n' ORDER BY x) FROM (\
               SELECT format('schema %s owner=%s acl=%s', nspname, nspowner::regrole, nspacl) AS x \
                      FROM pg_namespace \
               UNION ALL SELECT format('class %s.%s %s owner=%s acl=%s', n.nspname, c.relname, \
                      c.relkind, c.relowner::regrole, c.relacl) FROM pg_class c \
                      JOIN pg_namespace n ON n.oid = c.relnamespace \
                      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
               UNION ALL SELECT format('comment %s %s: %s', classoid::regclass, objoid, description) \
                      FROM pg_description WHERE objoid >= 16384) s",
        )
        .expect("appdb snapshot");
    format!("{global}\n{appdb}")
}

#[test]
fn every_subcommand_refuses_malformed_input_with_exit_2_and_one_line() {
    let cluster = TestCluster::start().unwrap_or_else(|e| {
        panic!(
            "a PostgreSQL server is required (scripts/install-prerequisites installs one, or \
             apt-get install postgresql-15): {e}"
        )
    });
    let password = cluster.connector().password.clone();
    let files = Files::new(&cluster);

    // The owner fix an administrator runs, then a managed user, so that revoke, extend and
    // inspect have something they could damage.
    cluster
        .sql("appdb", "GRANT postgres TO apono_connector")
        .expect("owner fix");
    let good = path(&files.good);
    let (code, _, stderr, _) = run(
        &[
            os("grant"),
            os("--config"),
            good.clone(),
            os("--user"),
            os("hostile_alice"),
            os("--level"),
            os("read-only"),
            os("--database"),
            os("appdb"),
            os("--schema"),
            os("sales"),
            os("--for"),
            os("1h"),
        ],
        &password,
    );
    assert_eq!(code, Some(0), "the setup grant failed: {stderr}");
    let before = snapshot(&cluster);

    let cases = cases(&files);
    let mut failures = Vec::new();
    let mut subcommands = std::collections::BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for case in &cases {
        let shown: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                let a = a.to_string_lossy();
                if a.len() > 60 {
                    format!("{}…({} bytes)", &a[..a.floor_char_boundary(40)], a.len())
                } else {
                    a.into_owned()
                }
            })
            .collect();
        let shown = shown.join(" ");
        if let Some(first) = case.args.first().and_then(|a| a.to_str())
            && !first.starts_with('-')
        {
            *subcommands.entry(first.to_owned()).or_insert(0usize) += 1;
        }
        let (code, stdout, stderr, took) = run(&case.args, &password);
        slowest = slowest.max(took);
        let lines: Vec<&str> = stderr.lines().collect();
        let problem = if code != Some(2) {
            Some(format!("exit {code:?}"))
        } else if lines.len() != 1 {
            Some(format!("{} lines on stderr", lines.len()))
        } else if !lines[0].starts_with("rdspg: ") {
            Some("the line does not start with \"rdspg: \"".to_owned())
        } else if !lines[0].contains(case.names) {
            Some(format!("the line does not name {:?}", case.names))
        } else if lines[0].len() > 4096 {
            Some(format!("a {}-byte line", lines[0].len()))
        } else if !stdout.is_empty() {
            Some("output on stdout".to_owned())
        } else {
            None
        };
        if let Some(problem) = problem {
            let mut err = stderr.clone();
            err.truncate(err.floor_char_boundary(600));
            failures.push(format!("rdspg {shown}: {problem}; stderr: {err}"));
        }
    }
    let after = snapshot(&cluster);

    const SUBCOMMANDS: [&str; 17] = [
        "policy",
        "validate",
        "token",
        "ping",
        "discover",
        "quickstart",
        "serve",
        "check",
        "sync",
        "inventory",
        "sweep",
        "users",
        "rotate",
        "grant",
        "revoke",
        "extend",
        "inspect",
    ];
    println!(
        "hostile CLI: {} malformed invocations of the {} subcommands, slowest {} ms",
        cases.len(),
        SUBCOMMANDS.len(),
        slowest.as_millis()
    );
    println!("hostile CLI: cases per subcommand: {subcommands:?}");
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    for subcommand in SUBCOMMANDS {
        assert!(
            subcommands.contains_key(subcommand),
            "no case for {subcommand}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(before, after, "the database changed");
}

/// Runs rdspg without a cluster: (exit code, stdout, stderr).
fn rdspg_alone(args: &[&str]) -> (Option<i32>, String, String) {
    let (code, stdout, stderr, _) = run(&args.iter().map(|a| os(a)).collect::<Vec<_>>(), "");
    (code, stdout, stderr)
}

/// Found by the table: clap's usage errors spanned five lines (error, tip, usage, a pointer to
/// --help) and the bare command printed the whole help on stderr. `--help` and `--version` still
/// print in full with exit 0.
#[test]
fn usage_errors_are_one_line() {
    for args in [
        &[][..],
        &["grant", "--config", "x"],
        &[
            "ping",
            "--host",
            "h",
            "--user",
            "u",
            "--password-env",
            "X",
            "--iam",
            "--region",
            "us-east-1",
        ],
        &["validate", "--config"],
        &["policy", "connector", "--frobnicate"],
    ] {
        let (code, stdout, stderr) = rdspg_alone(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("rdspg: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("Usage:"), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    let (code, stdout, _) = rdspg_alone(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Usage:"), "{stdout}");
    let (code, stdout, _) = rdspg_alone(&["--version"]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("rdspg "), "{stdout}");
}

/// Found by the table: `quickstart --pg-version 16` searched for (and tried to download) a
/// server, then failed as a job (exit 1, a step report on stdout).
#[test]
fn quickstart_refuses_an_untested_version_as_bad_usage() {
    let (code, stdout, stderr) = rdspg_alone(&["quickstart", "--pg-version", "16"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        stderr.trim_end(),
        "rdspg: --pg-version 16: choose one of 15, 17, 18"
    );
}

/// Found by the table: a 900 KB setting or a 100 KB argument was echoed whole (a 1 MB line).
#[test]
fn a_huge_value_gives_a_bounded_line() {
    let long = format!("1h{}", "9".repeat(100_000));
    let (code, _, stderr) = rdspg_alone(&["serve", "--config", "x.toml", "--sweep-every", &long]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1);
    assert!(stderr.len() < 2200, "{} bytes", stderr.len());
    assert!(
        stderr.starts_with("rdspg: --sweep-every: \"1h999"),
        "{stderr}"
    );
    assert!(stderr.contains("(100002 bytes)"), "{stderr}");
}
