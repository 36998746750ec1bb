use super::inspection::*;
use super::*;
use crate::version::ServerVersion;
use integration_model::AccessLevel;

fn id(s: &str) -> Ident {
    Ident::new(s).unwrap()
}

fn obj(kind: ObjectKind, schema: Option<&str>, name: &str, owner: &str) -> ObjectState {
    ObjectState {
        object: ObjectRef {
            kind,
            schema: schema.map(id),
            name: id(name),
            args: None,
        },
        owner: id(owner),
        role_has: PrivilegeSet::EMPTY,
        public_has: PrivilegeSet::EMPTY,
        connector_acts_for_owner: true,
        owned_by: None,
        connector_grantable: PrivilegeSet::EMPTY,
        owner_in_connector: false,
    }
}

fn sample() -> Inspection {
    let mut db = obj(ObjectKind::Database, None, "appdb", "postgres");
    db.public_has = PrivilegeSet::of(&[Privilege::Connect, Privilege::Temporary]);
    let mut f = obj(ObjectKind::Function, Some("sales"), "total", "postgres");
    f.object.args = Some("customer integer".into());
    f.public_has = PrivilegeSet::of(&[Privilege::Execute]);
    let mut seq = obj(
        ObjectKind::Sequence,
        Some("sales"),
        "orders_id_seq",
        "postgres",
    );
    seq.owned_by = Some(QualifiedName::new(id("sales"), id("orders")));
    Inspection {
        database: "appdb".into(),
        objects: vec![
            db,
            obj(ObjectKind::Schema, None, "sales", "postgres"),
            obj(ObjectKind::Table, Some("sales"), "orders", "postgres"),
            seq,
            f,
            obj(ObjectKind::Schema, None, "inventory", "app_owner"),
            obj(ObjectKind::Table, Some("inventory"), "items", "app_owner"),
        ],
        ..Inspection::default()
    }
}

fn rules(n: u32) -> ServerRules {
    ServerRules::new(ServerVersion::from_num(n).unwrap())
}

fn sql(p: &Plan) -> Vec<String> {
    p.statements().iter().map(|s| s.sql().to_owned()).collect()
}

#[test]
fn read_only_schema_scope() {
    let g = [Grant::new(
        Scope::Schema(id("sales")),
        AccessLevel::ReadOnly,
    )];
    let p = plan(
        &sample(),
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(150_000),
        &id("c"),
    )
    .unwrap();
    assert_eq!(
        sql(&p),
        [
            r#"GRANT USAGE ON SCHEMA "sales" TO "u";"#,
            r#"GRANT SELECT ON TABLE "sales"."orders" TO "u";"#,
            r#"GRANT SELECT ON SEQUENCE "sales"."orders_id_seq" TO "u";"#,
        ]
    );
}

#[test]
fn admin_database_scope_maintain_only_on_17() {
    let mut insp = sample();
    insp.objects.retain(|o| o.owner.as_str() == "postgres");
    let g = [Grant::new(Scope::Database, AccessLevel::Admin)];
    let p15 = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(150_000),
        &id("c"),
    )
    .unwrap();
    let p17 = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap();
    let s15 = sql(&p15);
    let s17 = sql(&p17);
    assert!(
        s15.contains(&r#"GRANT CREATE ON DATABASE "appdb" TO "u";"#.to_owned()),
        "{s15:?}"
    );
    assert!(s15.contains(&r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON TABLE "sales"."orders" TO "u";"#.to_owned()), "{s15:?}");
    assert!(s17.contains(&r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, MAINTAIN ON TABLE "sales"."orders" TO "u";"#.to_owned()), "{s17:?}");
    // EXECUTE is held by PUBLIC: not granted.
    assert!(!s15.iter().any(|s| s.contains("ROUTINE")), "{s15:?}");
}

#[test]
fn equal_state_plans_nothing_and_drift_is_repaired() {
    let mut insp = sample();
    let g = [Grant::new(
        Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
        AccessLevel::ReadWrite,
    )];
    for o in &mut insp.objects {
        match (o.object.kind, o.object.name.as_str()) {
            (ObjectKind::Schema, "sales") => o.role_has = PrivilegeSet::of(&[Privilege::Usage]),
            (ObjectKind::Sequence, _) => {
                o.role_has = PrivilegeSet::of(&[Privilege::Select, Privilege::Usage])
            }
            (ObjectKind::Table, "orders") => {
                o.role_has = PrivilegeSet::of(&[
                    Privilege::Select,
                    Privilege::Insert,
                    Privilege::Update,
                    Privilege::Delete,
                ])
            }
            _ => {}
        }
    }
    let p = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap();
    assert!(p.is_empty(), "{p}");
    // Drift: someone granted TRUNCATE and revoked UPDATE, and granted on another table.
    for o in &mut insp.objects {
        if o.object.name.as_str() == "orders" {
            o.role_has = PrivilegeSet::of(&[
                Privilege::Select,
                Privilege::Insert,
                Privilege::Delete,
                Privilege::Truncate,
            ]);
        }
        if o.object.name.as_str() == "orders_id_seq" {
            o.role_has = PrivilegeSet::of(&[Privilege::Usage, Privilege::Update]);
        }
    }
    let p = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap();
    assert_eq!(
        sql(&p),
        [
            r#"REVOKE TRUNCATE ON TABLE "sales"."orders" FROM "u";"#,
            r#"GRANT UPDATE ON TABLE "sales"."orders" TO "u";"#,
            r#"REVOKE UPDATE ON SEQUENCE "sales"."orders_id_seq" FROM "u";"#,
            r#"GRANT SELECT ON SEQUENCE "sales"."orders_id_seq" TO "u";"#,
        ]
    );
}

#[test]
fn foreign_owner_is_reported_with_fix_per_version() {
    let mut insp = sample();
    for o in &mut insp.objects {
        if o.owner.as_str() == "app_owner" {
            o.connector_acts_for_owner = false;
        }
    }
    let g = [Grant::new(
        Scope::Schema(id("inventory")),
        AccessLevel::ReadOnly,
    )];
    for (n, fix) in [
        (150_000, r#"GRANT "app_owner" TO "apono_connector";"#),
        (
            170_000,
            r#"GRANT "app_owner" TO "apono_connector" WITH INHERIT TRUE, SET FALSE;"#,
        ),
    ] {
        let err = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(n),
            &id("apono_connector"),
        )
        .unwrap_err();
        match &err {
            GrantsError::OwnerMembershipMissing { fixes } => {
                assert_eq!(fixes.len(), 2);
                assert!(
                    fixes
                        .iter()
                        .all(|f| f.fix_sql == fix && f.owner == "app_owner")
                );
                assert_eq!(fixes[1].object, "inventory.items");
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains(fix), "{err}");
    }
}

#[test]
fn fix_sql_and_plans_keep_their_shape_whatever_the_names() {
    use crate::quote::{NASTY_NAMES, split_quoted};
    for (i, name) in NASTY_NAMES.iter().enumerate() {
        let other = NASTY_NAMES[(i + 1) % NASTY_NAMES.len()];
        // The grantee is neither the owner nor the connector: a role's privileges on its
        // own objects are never planned.
        let third = NASTY_NAMES[(i + 2) % NASTY_NAMES.len()];
        let (schema, table, owner, connector, role) = (name, other, name, other, third);
        let mut insp = Inspection {
            database: "appdb".into(),
            objects: vec![
                obj(ObjectKind::Schema, None, schema, owner),
                obj(ObjectKind::Table, Some(schema), table, owner),
            ],
            ..Inspection::default()
        };
        for o in &mut insp.objects {
            o.connector_acts_for_owner = false;
        }
        let g = [Grant::new(Scope::Schema(id(schema)), AccessLevel::ReadOnly)];
        let run = |insp: &Inspection, n| {
            plan(
                insp,
                &id(role),
                &g,
                &LevelPolicy::default(),
                &rules(n),
                &id(connector),
            )
        };
        // Membership fix.
        let Err(GrantsError::OwnerMembershipMissing { fixes }) = run(&insp, 170_000) else {
            panic!("expected fixes")
        };
        for f in &fixes {
            let (shape, idents, literals) = split_quoted(&f.fix_sql);
            assert_eq!(
                shape, r#"GRANT "" TO "" WITH INHERIT TRUE, SET FALSE;"#,
                "{}",
                f.fix_sql
            );
            assert_eq!(idents, [*owner, connector], "{}", f.fix_sql);
            assert!(literals.is_empty());
        }
        // Grant-option fix (the owner is a member of the connector).
        for o in &mut insp.objects {
            o.owner_in_connector = true;
        }
        let Err(GrantsError::OwnerMembershipMissing { fixes }) = run(&insp, 170_000) else {
            panic!("expected fixes")
        };
        let shapes: Vec<(String, Vec<String>)> = fixes
            .iter()
            .map(|f| {
                let (shape, idents, _) = split_quoted(&f.fix_sql);
                (shape, idents)
            })
            .collect();
        assert_eq!(
            shapes,
            [
                (
                    r#"GRANT USAGE, CREATE ON SCHEMA "" TO "" WITH GRANT OPTION;"#.to_owned(),
                    vec![(*schema).to_owned(), connector.to_owned()]
                ),
                (
                    r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN ON TABLE ""."" TO "" WITH GRANT OPTION;"#
                        .to_owned(),
                    vec![(*schema).to_owned(), table.to_owned(), connector.to_owned()]
                ),
            ]
        );
        // The plan itself, once the connector may act.
        for o in &mut insp.objects {
            o.connector_acts_for_owner = true;
        }
        let p = run(&insp, 170_000).unwrap();
        let shapes: Vec<(String, Vec<String>)> = p
            .statements()
            .iter()
            .map(|s| {
                let (shape, idents, _) = split_quoted(s.sql());
                (shape, idents)
            })
            .collect();
        assert_eq!(
            shapes,
            [
                (
                    r#"GRANT USAGE ON SCHEMA "" TO "";"#.to_owned(),
                    vec![(*schema).to_owned(), (*role).to_owned()]
                ),
                (
                    r#"GRANT SELECT ON TABLE ""."" TO "";"#.to_owned(),
                    vec![(*schema).to_owned(), table.to_owned(), (*role).to_owned()]
                ),
            ]
        );
    }
}

#[test]
fn circular_owner_gets_grant_option_fix_and_grant_options_suffice() {
    let mut insp = sample();
    insp.objects.retain(|o| o.owner.as_str() == "postgres");
    for o in &mut insp.objects {
        o.connector_acts_for_owner = false;
        o.owner_in_connector = true;
    }
    let g = [Grant::new(
        Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
        AccessLevel::ReadOnly,
    )];
    let err = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap_err();
    let GrantsError::OwnerMembershipMissing { fixes } = err else {
        panic!()
    };
    let sql: Vec<&str> = fixes.iter().map(|f| f.fix_sql.as_str()).collect();
    assert_eq!(
        sql,
        [
            r#"GRANT USAGE, CREATE ON SCHEMA "sales" TO "c" WITH GRANT OPTION;"#,
            r#"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN ON TABLE "sales"."orders" TO "c" WITH GRANT OPTION;"#,
            r#"GRANT SELECT, UPDATE, USAGE ON SEQUENCE "sales"."orders_id_seq" TO "c" WITH GRANT OPTION;"#,
        ]
    );
    assert!(fixes.iter().all(|f| f.run_as == "postgres"));
    // Once the connector holds the grant options, the plan goes through.
    for o in &mut insp.objects {
        o.connector_grantable = o.object.kind.applicable();
    }
    let p = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap();
    assert_eq!(p.changes.len(), 3);
}

#[test]
fn missing_scope_objects_are_reported() {
    let g = [Grant::new(Scope::Schema(id("nope")), AccessLevel::ReadOnly)];
    let err = plan(
        &sample(),
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(150_000),
        &id("c"),
    )
    .unwrap_err();
    assert!(
        matches!(err, GrantsError::ObjectNotFound { kind: "schema", .. }),
        "{err}"
    );
}

#[test]
fn function_targets_carry_server_rendered_arguments() {
    let insp = sample();
    let f = insp
        .objects
        .iter()
        .find(|o| o.object.kind == ObjectKind::Function)
        .unwrap();
    assert_eq!(
        f.object.sql_target(),
        r#"ROUTINE "sales"."total"(customer integer)"#
    );
}

#[test]
fn following_new_tables_plans_default_privileges_per_creator() {
    let mut insp = sample();
    // A stray entry naming the role: removed since no grant asks for it.
    insp.default_acls.push(DefaultAcl {
        for_role: "app_owner".into(),
        schema: None,
        object_type: "f".into(),
        privileges: PrivilegeSet::of(&[Privilege::Execute]),
    });
    let g =
        [Grant::new(Scope::Schema(id("inventory")), AccessLevel::Admin).follow_new_tables(true)];
    for (n, table_privs) in [
        (
            150_000,
            "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES",
        ),
        (
            170_000,
            "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, MAINTAIN",
        ),
    ] {
        let p = plan(
            &insp,
            &id("u"),
            &g,
            &LevelPolicy::default(),
            &rules(n),
            &id("c"),
        )
        .unwrap();
        let defaults: Vec<String> = p
            .statements()
            .iter()
            .map(|s| s.sql().to_owned())
            .filter(|s| s.starts_with("ALTER DEFAULT"))
            .collect();
        assert_eq!(
            defaults,
            [
                r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" REVOKE EXECUTE ON FUNCTIONS FROM "u";"#.to_owned(),
                format!(r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "inventory" GRANT {table_privs} ON TABLES TO "u";"#),
                r#"ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "inventory" GRANT SELECT, UPDATE, USAGE ON SEQUENCES TO "u";"#.to_owned(),
            ],
            "{n}"
        );
    }
    // Without following, nothing but the stray entry's removal concerns default privileges.
    let plain = [Grant::new(
        Scope::Schema(id("inventory")),
        AccessLevel::Admin,
    )];
    let p = plan(
        &insp,
        &id("u"),
        &plain,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap();
    assert_eq!(p.default_changes.len(), 1);
}

#[test]
fn following_new_tables_refusals() {
    let t = [Grant::new(
        Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
        AccessLevel::ReadOnly,
    )
    .follow_new_tables(true)];
    let err = plan(
        &sample(),
        &id("u"),
        &t,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap_err();
    assert!(matches!(err, GrantsError::InvalidGrant { .. }), "{err}");

    let g = [
        Grant::new(Scope::Schema(id("inventory")), AccessLevel::ReadOnly).follow_new_tables(true),
    ];
    // A creator the connector does not act for: the membership fix, per version.
    let mut insp = sample();
    for o in &mut insp.objects {
        if o.owner.as_str() == "app_owner" {
            o.connector_acts_for_owner = false;
        }
    }
    let err = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap_err();
    let GrantsError::OwnerMembershipMissing { fixes } = err else {
        panic!()
    };
    assert!(
        fixes.iter().any(|f| f.kind == "default privileges"
            && f.fix_sql == r#"GRANT "app_owner" TO "c" WITH INHERIT TRUE, SET FALSE;"#),
        "{fixes:?}"
    );
    // A creator that is a member of the connector can never be acted for.
    for o in &mut insp.objects {
        if o.owner.as_str() == "app_owner" {
            o.owner_in_connector = true;
            o.connector_grantable = o.object.kind.applicable();
        }
    }
    let err = plan(
        &insp,
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(170_000),
        &id("c"),
    )
    .unwrap_err();
    assert!(
        matches!(err, GrantsError::CannotFollowNewTables { ref creator, .. } if creator == "app_owner"),
        "{err}"
    );
}

#[test]
fn a_plan_serializes_to_the_documented_json() {
    let g = [Grant::new(
        Scope::Table(QualifiedName::new(id("sales"), id("orders"))),
        AccessLevel::ReadOnly,
    )];
    let p = plan(
        &sample(),
        &id("u"),
        &g,
        &LevelPolicy::default(),
        &rules(150_000),
        &id("c"),
    )
    .unwrap();
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["database"], "appdb");
    assert_eq!(json["role"], "u");
    let change = json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["object"]["kind"] == "table")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(
        change["object"],
        serde_json::json!({"kind": "table", "schema": "sales", "name": "orders"})
    );
    assert_eq!(change["owner"], "postgres");
    assert_eq!(change["grant"], serde_json::json!(["SELECT"]));
    assert_eq!(change["revoke"], serde_json::json!([]));
    let statements: Vec<String> = p.statements().iter().map(ToString::to_string).collect();
    assert_eq!(json["sql"], serde_json::json!(statements));
}
