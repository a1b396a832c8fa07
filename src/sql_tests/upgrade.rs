//! SQL-level tests: releases. Each earlier release installed (their install scripts are kept in
//! sql/archive/reco--<version>.sql, copied next to the current one by scripts/test.sh) is updated
//! with ALTER EXTENSION reco UPDATE, keeping every row and answer, and ends with the same objects
//! as a new installation.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    /// Every object of the extension with its definition, comment and privileges, one line
    /// each, sorted: two databases with the same text have the same reco. The `tests` schema of
    /// `cargo pgrx test` builds is left out (0.1.0 was installed without it).
    const EXTENSION_CATALOG: &str = r#"
    WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'reco'),
    members AS (
        SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
        WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
    rels AS (SELECT m.objid AS oid FROM members m WHERE m.classid = 'pg_class'::regclass),
    lines AS (
        SELECT pg_describe_object(m.classid, m.objid, m.objsubid) AS line FROM members m
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid))
               || ' acl=' || coalesce(p.proacl::text, '') || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '')
        FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
        WHERE p.prokind <> 'a'
        UNION ALL
        SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' acl=' || coalesce(c.relacl::text, '')
               || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
        FROM pg_class c JOIN rels r ON r.oid = c.oid
        UNION ALL
        SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
               || ' notnull=' || a.attnotnull || ' identity=' || a.attidentity::text
               || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
               || ' comment=' || coalesce(col_description(a.attrelid, a.attnum), '')
        FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        WHERE a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT 'constraint ' || con.conrelid::regclass || ' ' || con.conname || ' ' || pg_get_constraintdef(con.oid)
        FROM pg_constraint con JOIN rels r ON r.oid = con.conrelid
        UNION ALL
        SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN rels r ON r.oid = i.indrelid
        UNION ALL
        SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' enabled=' || t.tgenabled::text
        FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
        UNION ALL
        SELECT 'dumped ' || x.c::regclass || ' ' || coalesce(x.cond, '')
        FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(c, cond) WHERE e.extname = 'reco')
    SELECT string_agg(line, E'\n' ORDER BY line) FROM lines
    WHERE line !~ '^(schema tests$|function tests\.)'
    "#;

    /// Install release `from` in a scratch database, fill it (data, custom settings, sent
    /// services, a model, an evaluation), update to the current version, and compare every row
    /// and answer; then the updated database goes on.
    fn update_keeps_every_row_and_answer(from: &str) {
        let db = format!("reco_test_upgrade_{}", from.replace('.', "_"));
        let conn = scratch_database_with(&db, &format!("CREATE EXTENSION reco VERSION '{from}'"));
        let version = "SELECT extversion FROM pg_extension WHERE extname = 'reco'";
        assert_eq!(remote_text(&conn, version), from);
        remote_perform(
            &conn,
            &format!("SELECT * FROM reco.load_csv(\'{}\')", data_dir()),
        );
        remote_exec(&conn, SHOP_WITH_SETTINGS);
        let before = remote_text(&conn, SHOP_SNAPSHOT);
        assert!(before.contains("models 1:active:32:"), "{before}");

        remote_exec(&conn, "ALTER EXTENSION reco UPDATE");
        assert_eq!(remote_text(&conn, version), env!("CARGO_PKG_VERSION"));
        let after = remote_text(&conn, SHOP_SNAPSHOT);
        assert_eq!(
            before, after,
            "the update from {from} changed data or answers"
        );

        // The updated database goes on: a new model version, new interactions.
        remote_perform(&conn, "SELECT * FROM reco.refresh()");
        remote_exec(
            &conn,
            "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (7, 42, 'view')",
        );
        assert_eq!(
            remote_text(
                &conn,
                "SELECT string_agg(model_id || ':' || status, ',' ORDER BY model_id) FROM reco.models"
            ),
            "1:retired,2:active"
        );
        drop_scratch_database(&db);
    }

    /// Release `from` updated to the current version has the objects of a new installation.
    fn updated_has_the_objects_of_a_new_one(from: &str) {
        let suffix = from.replace('.', "_");
        let (updated_db, fresh_db) = (
            format!("reco_test_updated_{suffix}"),
            format!("reco_test_fresh_{suffix}"),
        );
        let updated = scratch_database_with(
            &updated_db,
            &format!("CREATE EXTENSION reco VERSION '{from}'; ALTER EXTENSION reco UPDATE"),
        );
        let fresh = scratch_database_with(&fresh_db, "CREATE EXTENSION reco");
        let a = remote_text(&updated, EXTENSION_CATALOG);
        let b = remote_text(&fresh, EXTENSION_CATALOG);
        assert!(
            b.contains("trigger CREATE TRIGGER action_weights_replace_builtin")
                && b.contains("function reco.grant_app(regrole)"),
            "{b}"
        );
        if a != b {
            let only_a: Vec<&str> = a.lines().filter(|l| !b.lines().any(|x| x == *l)).collect();
            let only_b: Vec<&str> = b.lines().filter(|l| !a.lines().any(|x| x == *l)).collect();
            panic!("{from} updated and new installations differ:\nonly after the update:\n{}\nonly in a new installation:\n{}",
                only_a.join("\n"), only_b.join("\n"));
        }
        drop_scratch_database(&updated_db);
        drop_scratch_database(&fresh_db);
    }

    #[pg_test]
    fn update_from_0_1_0_keeps_every_row_and_answer() {
        update_keeps_every_row_and_answer("0.1.0");
    }

    #[pg_test]
    fn update_from_0_2_0_keeps_every_row_and_answer() {
        update_keeps_every_row_and_answer("0.2.0");
    }

    #[pg_test]
    fn update_from_0_3_0_keeps_every_row_and_answer() {
        update_keeps_every_row_and_answer("0.3.0");
    }

    #[pg_test]
    fn an_updated_0_1_0_has_the_objects_of_a_new_installation() {
        updated_has_the_objects_of_a_new_one("0.1.0");
    }

    #[pg_test]
    fn an_updated_0_2_0_has_the_objects_of_a_new_installation() {
        updated_has_the_objects_of_a_new_one("0.2.0");
    }

    #[pg_test]
    fn an_updated_0_3_0_has_the_objects_of_a_new_installation() {
        updated_has_the_objects_of_a_new_one("0.3.0");
    }
}
