//! SQL-level tests: pg_dump -Fc of a database with reco and pg_restore into an empty one keep
//! everything: custom action weights, the interaction id sequence, service settings, the sent
//! log, stored evaluations and the active model, and the serving functions answer the same.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    fn run(program: &str, args: &[String]) -> String {
        let out = std::process::Command::new(format!("{}/{program}", postgres_bindir()))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{program} {args:?} failed ({}):\n{stderr}",
            out.status
        );
        stderr
    }

    #[pg_test]
    fn dump_and_restore_keep_the_shop_and_its_answers() {
        let (src, dst) = ("reco_test_dump_src", "reco_test_dump_dst");
        let src_conn = scratch_database(src);
        remote_perform(
            &src_conn,
            &format!("SELECT * FROM reco.load_csv(\'{}\')", data_dir()),
        );
        remote_exec(&src_conn, SHOP_WITH_SETTINGS);
        let before = remote_text(&src_conn, SHOP_SNAPSHOT);
        assert!(
            before.contains("action_weights add_to_wishlist=3,purchase=5,review=4,view=2"),
            "{before}"
        );

        let file = std::env::temp_dir().join(format!("reco_test_dump_{}.dump", std::process::id()));
        let file = file.to_string_lossy().into_owned();
        let mut args = client_args();
        args.extend([
            "-Fc".into(),
            "-d".into(),
            src.into(),
            "-f".into(),
            file.clone(),
        ]);
        run("pg_dump", &args);

        // An empty database (reco not installed): the dump creates the extension itself.
        let port = one_text("SELECT current_setting('port')").unwrap();
        let user = one_text("SELECT current_user::text").unwrap();
        let admin = format!("host=127.0.0.1 port={port} user={user} dbname=postgres");
        remote_exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS {dst} WITH (FORCE)"),
        );
        remote_exec(&admin, &format!("CREATE DATABASE {dst}"));
        let mut args = client_args();
        args.extend([
            "-d".into(),
            dst.into(),
            "--exit-on-error".into(),
            file.clone(),
        ]);
        let stderr = run("pg_restore", &args);
        assert!(stderr.trim().is_empty(), "pg_restore said:\n{stderr}");
        let _ = std::fs::remove_file(&file);

        let dst_conn = format!("host=127.0.0.1 port={port} user={user} dbname={dst}");
        let after = remote_text(&dst_conn, SHOP_SNAPSHOT);
        assert_eq!(before, after, "the restored database differs");
        // A plain INSERT gets the next id, not one the log already has (23505 before 0.2.0).
        remote_exec(
            &dst_conn,
            "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (7, 42, 'view')",
        );
        assert_eq!(
            remote_text(
                &dst_conn,
                "SELECT (max(interaction_id) = 30001)::text FROM reco.interactions"
            ),
            "true"
        );
        // The restored model is the active one, and a refresh builds the next version.
        remote_perform(&dst_conn, "SELECT * FROM reco.refresh()");
        assert_eq!(
            remote_text(
                &dst_conn,
                "SELECT string_agg(model_id || ':' || status, ',' ORDER BY model_id) FROM reco.models"
            ),
            "1:retired,2:active"
        );
        drop_scratch_database(src);
        drop_scratch_database(dst);
    }
}
