//! SQL-level tests: no privilege escalation (sql/reco--0.2.0--0.3.0.sql). The attacks of issue
//! #16 as an attacker would mount them: a role allowed to create objects in schema public (the
//! default before PostgreSQL 15) plants operators and functions there that beat pg_catalog's
//! for the argument types reco's SQL uses, and temporary views named like the tables reco reads;
//! then the owner runs every function of reco that runs SQL, the triggers fire, and the nightly
//! pg_cron job runs. Each trap logs itself and tries to make the attacker superuser. They must
//! never run. Plus the least-privilege application role of reco.grant_app().
//!
//! All in scratch databases: the traps must not reach the tests running beside these. Roles are
//! cluster-wide, so each test uses roles of its own, dropped after the database.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    /// Run `sql` in the session of the open dblink connection `name`.
    fn exec(name: &str, sql: &str) {
        Spi::run_with_args("SELECT dblink_exec($1, $2)", &[name.into(), sql.into()]).unwrap();
    }

    /// Run the query `query` in the session of `name` and discard its rows.
    fn perform(name: &str, query: &str) {
        exec(
            name,
            &format!("DO $p$ BEGIN PERFORM * FROM ({query}) AS q; END $p$"),
        );
    }

    /// Scratch database `db` with the small shop loaded, a model, pg_temp.try_sql and a role
    /// `attacker` that may create objects in public; returns the open dblink connection's name.
    fn shop_with_attacker(db: &str, attacker: &str) -> String {
        drop_role(attacker);
        let conn = scratch_database(db);
        Spi::run_with_args(
            "SELECT dblink_connect($1, $2)",
            &[db.into(), conn.as_str().into()],
        )
        .unwrap();
        exec(db, TRY_SQL);
        exec(
            db,
            &format!("CREATE ROLE {attacker}; GRANT CREATE, USAGE ON SCHEMA public TO {attacker}"),
        );
        perform(
            db,
            &format!("SELECT * FROM reco.load_csv('{}')", data_dir()),
        );
        perform(db, "SELECT * FROM reco.refresh()");
        db.to_string()
    }

    fn drop_role(role: &str) {
        Spi::run("CREATE EXTENSION IF NOT EXISTS dblink").unwrap();
        let port = one_text("SELECT current_setting('port')").unwrap();
        let user = one_text("SELECT current_user::text").unwrap();
        let admin = format!("host=127.0.0.1 port={port} user={user} dbname=postgres");
        Spi::run_with_args(
            "SELECT dblink_exec($1, format('DROP ROLE IF EXISTS %I', $2::text))",
            &[admin.as_str().into(), role.into()],
        )
        .unwrap();
    }

    fn done(db: &str, roles: &[&str]) {
        drop_scratch_database(db);
        for r in roles {
            drop_role(r);
        }
    }

    /// The traps, created by the attacker in public. Each beats pg_catalog's operator or function
    /// for a call reco's SQL makes or could make: an exact match of the argument types wins over
    /// pg_catalog's candidate that needs an implicit cast (oid = regclass, nextval('...'),
    /// format(text, text) over format(text, VARIADIC "any"), text || bigint over
    /// text || anynonarray, lower(varchar), unnest(bigint[]) over unnest(anyarray)); and with
    /// `search_path = public, pg_catalog` even exact duplicates of pg_catalog's (bigint = bigint,
    /// text = text, count(*) aside) would win.
    fn plant_traps(name: &str, attacker: &str) {
        exec(name, &format!("SET ROLE {attacker}"));
        exec(
            name,
            &format!(
                "CREATE TABLE public.trap_log (who name, what text, query text);
                 GRANT INSERT, SELECT ON public.trap_log TO PUBLIC;
                 CREATE FUNCTION public.trap(what text) RETURNS boolean LANGUAGE plpgsql AS $t$
                 BEGIN
                     INSERT INTO public.trap_log VALUES (current_user, what, pg_catalog.current_query());
                     IF (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user) THEN
                         EXECUTE 'ALTER ROLE {attacker} SUPERUSER';
                     END IF;
                     RETURN true;
                 END $t$;
                 CREATE FUNCTION public.eq_oid_regclass(oid, regclass) RETURNS boolean LANGUAGE sql
                     AS $t$ SELECT public.trap('=(oid, regclass)') AND $1 OPERATOR(pg_catalog.=) $2::oid $t$;
                 CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.eq_oid_regclass);
                 CREATE FUNCTION public.eq_regclass_oid(regclass, oid) RETURNS boolean LANGUAGE sql
                     AS $t$ SELECT public.trap('=(regclass, oid)') AND $1::oid OPERATOR(pg_catalog.=) $2 $t$;
                 CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = oid, FUNCTION = public.eq_regclass_oid);
                 CREATE FUNCTION public.eq_bigint(bigint, bigint) RETURNS boolean LANGUAGE sql
                     AS $t$ SELECT public.trap('=(bigint, bigint)') AND $1 OPERATOR(pg_catalog.=) $2 $t$;
                 CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.eq_bigint);
                 CREATE FUNCTION public.eq_text(text, text) RETURNS boolean LANGUAGE sql
                     AS $t$ SELECT public.trap('=(text, text)') AND $1 OPERATOR(pg_catalog.=) $2 $t$;
                 CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.eq_text);
                 CREATE FUNCTION public.cat_text_bigint(text, bigint) RETURNS text LANGUAGE sql
                     AS $t$ SELECT CASE WHEN public.trap('||(text, bigint)') THEN $1 OPERATOR(pg_catalog.||) $2::text END $t$;
                 CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = bigint, FUNCTION = public.cat_text_bigint);
                 CREATE FUNCTION public.nextval(text) RETURNS bigint LANGUAGE sql
                     AS $t$ SELECT CASE WHEN public.trap('nextval(text)') THEN pg_catalog.nextval($1::regclass) END $t$;
                 CREATE FUNCTION public.format(text, text) RETURNS text LANGUAGE sql
                     AS $t$ SELECT CASE WHEN public.trap('format(text, text)') THEN pg_catalog.format($1, $2) END $t$;
                 CREATE FUNCTION public.format(text, text, text) RETURNS text LANGUAGE sql
                     AS $t$ SELECT CASE WHEN public.trap('format(text, text, text)') THEN pg_catalog.format($1, $2, $3) END $t$;
                 CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql
                     AS $t$ SELECT CASE WHEN public.trap('lower(varchar)') THEN pg_catalog.lower($1::text) END $t$;
                 CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE sql
                     AS $t$ SELECT u FROM pg_catalog.unnest($1) u WHERE public.trap('unnest(bigint[])') $t$;"
            ),
        );
        exec(name, "RESET ROLE");
    }

    /// What fired: empty when no trap ran.
    fn fired(name: &str) -> String {
        remote_text(
            name,
            "SELECT coalesce(string_agg(what || ' in: ' || left(query, 200), E'\\n'), '') FROM public.trap_log",
        )
    }

    fn is_superuser(role: &str) -> bool {
        one_i64(&format!(
            "SELECT count(*) FROM pg_roles WHERE rolname = '{role}' AND rolsuper"
        )) > 0
    }

    /// Every function of reco that runs SQL, and every trigger, called by the owner (the test
    /// superuser) with the search_path `path`. Each call must succeed or give the error named.
    fn owner_calls_everything(name: &str, path: &str) {
        exec(name, &format!("SET search_path = {path}"));
        let calls: &[(&str, &str)] = &[
            ("SELECT * FROM reco.refresh()", "ok"),
            ("SELECT * FROM reco.evaluate(10, 0.2)", "ok"),
            ("SELECT * FROM reco.evaluation_rankings(5, 0.2) LIMIT 1", "ok"),
            ("SELECT * FROM reco.evaluation_split(0.2) LIMIT 1", "ok"),
            ("SELECT * FROM reco.recommend(1, 5)", "ok"),
            ("SELECT * FROM reco.recommend(NULL, 5)", "ok"),
            ("SELECT * FROM reco.recommend(1, 5, true, 'Stride', NULL, 150, NULL, ARRAY[1]::bigint[])", "ok"),
            ("SELECT * FROM reco.similar(2, 5)", "ok"),
            ("SELECT * FROM reco.similar_users(1, 5)", "ok"),
            ("SELECT * FROM reco.similar_lists(ARRAY[2, 3]::bigint[], ARRAY[3, 3])", "ok"),
            ("SELECT * FROM reco.due_services('2027-06-01')", "ok"),
            (
                "SELECT reco.mark_service_sent(d.user_id, d.shoe_id, d.purchased_on, d.service, '2027-06-01')
                 FROM reco.due_services('2027-06-01') d LIMIT 1",
                "ok",
            ),
            ("SELECT reco.rebuild_service_periods(NULL)", "ok"),
            ("SELECT reco.schedule_refresh()", "55000"),
            ("SELECT reco.unschedule_refresh()", "55000"),
            ("SELECT reco.grant_app('pg_monitor')", "ok"),
            ("SELECT reco.revoke_app('pg_monitor')", "ok"),
            (
                "INSERT INTO reco.shoes (shoe_id, name, brand, type, lifespan_days, description)
                 VALUES (100001, 'Trap Runner', 'Stride', 'running', 300, 'a shoe')
                 ON CONFLICT (shoe_id) DO UPDATE SET name = EXCLUDED.name",
                "ok",
            ),
            ("UPDATE reco.shoes SET lifespan_days = lifespan_days + 1 WHERE shoe_id <= 3", "ok"),
            (
                "INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
                 VALUES (1, 100001, 'purchase', '2027-01-01')",
                "ok",
            ),
            ("UPDATE reco.service_settings SET care_delay_days = care_delay_days + 1", "ok"),
            // The statements the test itself writes must not use = on text: under
            // `public, pg_catalog` the trap would catch the test's own WHERE.
            (
                "UPDATE reco.action_weights SET weight = 1 WHERE action OPERATOR(pg_catalog.=) 'view'",
                "ok",
            ),
            ("INSERT INTO reco.action_weights (action, weight) VALUES ('view', 1.5)", "ok"),
            ("DELETE FROM reco.experiments", "ok"),
            (
                "SELECT reco.create_experiment('trap', '[{\"name\": \"a\", \"strategy\": \"popularity\", \"weight\": 1},
                     {\"name\": \"b\", \"strategy\": \"hybrid\", \"weight\": 1}]')",
                "ok",
            ),
            ("SELECT reco.start_experiment('trap')", "ok"),
            ("SELECT * FROM reco.serve(1, 5)", "ok"),
            ("SELECT * FROM reco.serve(NULL, 5, visitor => 'v1')", "ok"),
            (
                "SELECT reco.log_event(s.request_id, s.shoe_id, 'purchase') FROM reco.serve(1, 5) s LIMIT 1",
                "ok",
            ),
            (
                "SELECT reco.log_event(NULL, s.shoe_id, 'click', user_id => 1) FROM reco.serve(1, 5) s LIMIT 1",
                "ok",
            ),
            ("SELECT reco.rate(1, s.shoe_id, -1, s.request_id) FROM reco.serve(1, 5) s LIMIT 1", "ok"),
            ("SELECT * FROM reco.experiment_results('trap')", "ok"),
            ("SELECT reco.pause_experiment('trap')", "ok"),
            ("SELECT reco.stop_experiment('trap')", "ok"),
            ("SELECT * FROM reco.refresh(activate => false)", "ok"),
            ("SELECT * FROM reco.refresh(max_quality_drop => 0.5)", "ok"),
            (
                "SELECT * FROM reco.compare_models((SELECT min(model_id) FROM reco.models), (SELECT max(model_id) FROM reco.models), 20)",
                "ok",
            ),
            ("SELECT reco.pin_model((SELECT min(model_id) FROM reco.models))", "ok"),
            ("SELECT reco.unpin_model((SELECT min(model_id) FROM reco.models))", "ok"),
            ("SELECT reco.rollback()", "ok"),
            (
                "SELECT reco.activate((SELECT max(model_id) FROM reco.models), 'trap test')",
                "ok",
            ),
            ("SELECT reco.reset_serving_stats()", "ok"),
            ("SELECT * FROM reco.serving_stats", "ok"),
            ("SELECT * FROM reco.refresh_progress", "ok"),
            ("SELECT * FROM reco.health", "ok"),
            ("SELECT * FROM reco.quality_history", "ok"),
            ("SELECT * FROM reco.drift_history", "ok"),
            ("SET reco.keep_models = 1", "ok"),
            ("SELECT * FROM reco.refresh()", "ok"),
            ("DELETE FROM reco.models WHERE status <> 'active'", "ok"),
            ("RESET reco.keep_models", "ok"),
        ];
        for &(q, want) in calls {
            let got = remote_try_sql(name, q);
            assert!(got.starts_with(want), "{q} with search_path {path}: {got}");
        }
        exec(name, "RESET search_path");
    }

    #[pg_test]
    fn every_function_pins_search_path_and_none_is_executable_by_public() {
        let members = "SELECT p.oid, p.oid::regprocedure::text AS f, p.proconfig, p.proacl
             FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
             WHERE d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
               AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'reco')
               AND p.pronamespace = 'reco'::regnamespace";
        assert!(one_i64(&format!("SELECT count(*) FROM ({members}) m")) >= 25);
        let unpinned = one_text(&format!(
            "SELECT string_agg(f, ', ') FROM ({members}) m
             WHERE NOT coalesce(proconfig, '{{}}') @> ARRAY['search_path=pg_catalog, pg_temp']"
        ));
        assert_eq!(unpinned, None, "functions without a pinned search_path");
        // A NULL ACL is the default one: EXECUTE for PUBLIC. The one exception only raises.
        let public = one_text(&format!(
            "SELECT string_agg(f, ', ') FROM ({members}) m
             WHERE proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(proacl) a WHERE a.grantee = 0)"
        ));
        assert_eq!(
            public.as_deref(),
            Some("reco.require_extension_owner(text)"),
            "functions executable by PUBLIC"
        );
        // Exactly these run as the owner: the serving functions, the services' rebuild
        // (internal), and the dashboard's functions and the experiment functions it calls
        // (reco.grant_dashboard(); EXECUTE on them is the gate, none is granted to PUBLIC).
        let definers = one_text(&format!(
            "SELECT string_agg(f, ', ' ORDER BY f) FROM ({members}) m JOIN pg_proc p USING (oid)
             WHERE p.prosecdef AND p.prorettype <> 'trigger'::regtype"
        ));
        assert_eq!(
            definers.as_deref(),
            Some(
                "reco.\"similar\"(bigint,integer), \
                 reco.create_experiment(text,jsonb,text,double precision), \
                 reco.dashboard_activate(bigint,text), \
                 reco.dashboard_health(), \
                 reco.dashboard_refresh(boolean,double precision), \
                 reco.dashboard_rollback(text), \
                 reco.dashboard_serving_stats(), \
                 reco.dashboard_users(text,integer), \
                 reco.due_services(date), \
                 reco.experiment_results(text), \
                 reco.experiment_timeline(text), \
                 reco.experiments_list(), \
                 reco.log_event(bigint,bigint,text,numeric,bigint,timestamp with time zone,interval), \
                 reco.mark_service_sent(bigint,bigint,date,text,date), \
                 reco.model_activation_log(), \
                 reco.model_drift_history(), \
                 reco.model_quality_history(), \
                 reco.model_versions(), \
                 reco.pause_experiment(text), \
                 reco.rate(bigint,bigint,integer,bigint), \
                 reco.rebuild_service_periods(bigint[]), \
                 reco.recommend(bigint,integer,boolean,text,text,double precision,bigint[],bigint[]), \
                 reco.serve(bigint,integer,text,boolean,text,text,double precision,bigint[],bigint[],text), \
                 reco.shoe_details(bigint), \
                 reco.shoe_summaries(bigint[]), \
                 reco.start_experiment(text), \
                 reco.stop_experiment(text), \
                 reco.user_history(bigint,integer), \
                 reco.user_profile(bigint)"
            )
        );
    }

    #[pg_test]
    fn shadowed_operators_and_functions_in_public_never_run_as_the_owner() {
        let (db, attacker) = ("reco_test_shadow_public", "reco_test_attacker_public");
        let name = shop_with_attacker(db, attacker);
        plant_traps(&name, attacker);
        // The traps work: called the way an unpinned function would, they fire (and, run by
        // the attacker, do not make it superuser).
        exec(&name, &format!("SET ROLE {attacker}"));
        assert_eq!(
            remote_text(
                &name,
                "SELECT (count(*) > 0)::text FROM pg_catalog.pg_class WHERE oid = 'pg_class'::regclass"
            ),
            "true"
        );
        assert!(fired(&name).contains("=(oid, regclass)"));
        exec(&name, "RESET ROLE; TRUNCATE public.trap_log");
        // The usual search_path of a role and of the pg_cron job, then the one most favourable to
        // the attacker.
        owner_calls_everything(&name, "\"$user\", public");
        owner_calls_everything(&name, "public, pg_catalog");
        assert_eq!(fired(&name), "", "traps ran");
        assert!(!is_superuser(attacker));
        done(db, &[attacker]);
    }

    #[pg_test]
    fn temporary_objects_of_an_app_role_do_not_shadow_what_serving_reads() {
        let (db, app) = ("reco_test_shadow_temp", "reco_test_attacker_temp");
        let name = shop_with_attacker(db, app);
        plant_traps(&name, app);
        perform(&name, &format!("SELECT reco.grant_app(\'{app}\')"));
        exec(&name, &format!("SET ROLE {app}"));
        // These queries run in the app's session, where the traps in public are live: their own
        // SQL casts explicitly (user_id::text), or the trap for text || bigint would fire here.
        let serving = [
            "SELECT string_agg(shoe_id || ':' || round(score::numeric, 6) || ':' || reason, ',') FROM reco.recommend(1, 5)",
            "SELECT string_agg(shoe_id || ':' || round(score::numeric, 6), ',') FROM reco.similar(2, 5)",
            "SELECT count(*)::text || md5(string_agg(user_id::text || ':' || shoe_id::text || ':' || service || ':' || suggestions::text, ',' ORDER BY user_id, shoe_id, service)) FROM reco.due_services('2027-06-01')",
        ];
        let before: Vec<String> = serving.iter().map(|q| remote_text(&name, q)).collect();
        assert!(before.iter().all(|b| !b.is_empty()), "{before:?}");
        // Temporary views named like every catalog and reco relation serving could read: the
        // default search_path looks in pg_temp first.
        exec(
            &name,
            "DO $d$ DECLARE r text; BEGIN
                 FOREACH r IN ARRAY ARRAY['pg_class', 'pg_namespace', 'pg_attribute', 'pg_type',
                     'pg_proc', 'pg_inherits', 'pg_extension', 'pg_roles', 'pg_settings',
                     'models', 'model_shoes', 'model_users', 'model_vocabulary', 'model_segments',
                     'shoes', 'users', 'interactions', 'action_weights', 'catalog_version',
                     'service_periods', 'service_settings', 'services_sent'] LOOP
                     EXECUTE format('CREATE TEMP VIEW %I AS SELECT public.trap(%L) AS x', r, 'pg_temp.' || r);
                 END LOOP;
             END $d$",
        );
        exec(&name, "TRUNCATE public.trap_log");
        let after: Vec<String> = serving.iter().map(|q| remote_text(&name, q)).collect();
        assert_eq!(before, after);
        assert_eq!(
            remote_try_sql(
                &name,
                "SELECT reco.mark_service_sent(d.user_id, d.shoe_id, d.purchased_on, d.service, '2027-06-01')
                 FROM reco.due_services('2027-06-01') d LIMIT 1"
            ),
            "ok"
        );
        assert_eq!(fired(&name), "", "traps ran");
        exec(&name, "RESET ROLE");
        assert!(!is_superuser(app));
        done(db, &[app]);
    }

    #[pg_test]
    fn internal_functions_cannot_be_attached_as_triggers_or_called() {
        let (db, attacker) = ("reco_test_internal", "reco_test_attacker_internal");
        let name = shop_with_attacker(db, attacker);
        // Even with USAGE on schema reco (as an application role has).
        perform(&name, &format!("SELECT reco.grant_app(\'{attacker}\')"));
        let triggers = remote_text(
            &name,
            "SELECT string_agg(p.oid::regprocedure::text, ',') FROM pg_proc p
             WHERE p.pronamespace = 'reco'::regnamespace AND p.prorettype = 'trigger'::regtype",
        );
        let triggers: Vec<&str> = triggers.split(',').collect();
        assert!(triggers.len() >= 6, "{triggers:?}");
        exec(&name, &format!("SET ROLE {attacker}"));
        exec(&name, "CREATE TABLE public.mine (x int)");
        for f in &triggers {
            let f = f.trim_end_matches("()");
            let got = remote_try_sql(
                &name,
                &format!("CREATE TRIGGER t AFTER INSERT ON public.mine FOR EACH STATEMENT EXECUTE FUNCTION {f}()"),
            );
            assert!(got.starts_with("42501"), "trigger on {f}: {got}");
        }
        for q in [
            "SELECT reco.create_model_partitions(999)",
            "SELECT reco.attach_model_partitions(999)",
            "SELECT reco.rebuild_service_periods(NULL)",
            "SELECT * FROM reco.similar_lists(ARRAY[1]::bigint[], ARRAY[3])",
            "SELECT reco.require_pg_cron()",
            "SELECT * FROM reco.model_tables()",
        ] {
            let got = remote_try_sql(&name, q);
            assert!(got.starts_with("42501"), "{q}: {got}");
        }
        exec(&name, "RESET ROLE");
        // The trigger function itself refuses a table other than reco.shoes, for a role the owner
        // granted it to.
        exec(
            &name,
            "CREATE TABLE public.other (x int);
             CREATE TRIGGER t AFTER INSERT ON public.other FOR EACH STATEMENT
                 EXECUTE FUNCTION reco.bump_catalog_version()",
        );
        let got = remote_try_sql(&name, "INSERT INTO public.other VALUES (1)");
        assert!(
            got.starts_with("42501") && got.contains("reco.shoes only"),
            "{got}"
        );
        done(db, &[attacker]);
    }

    #[pg_test]
    fn an_app_role_serves_and_can_do_nothing_else() {
        let (db, app) = ("reco_test_app_role", "reco_test_app");
        let name = shop_with_attacker(db, app);
        perform(&name, &format!("SELECT reco.grant_app(\'{app}\')"));
        exec(&name, &format!("SET ROLE {app}"));
        for q in [
            "SELECT * FROM reco.recommend(1, 5)",
            "SELECT * FROM reco.recommend(NULL, 5, true, 'Stride')",
            "SELECT * FROM reco.similar(2, 5)",
            "SELECT * FROM reco.due_services('2027-06-01')",
            "SELECT reco.mark_service_sent(d.user_id, d.shoe_id, d.purchased_on, d.service, '2027-06-01')
             FROM reco.due_services('2027-06-01') d LIMIT 1",
            "SELECT * FROM reco.serve(1, 5)",
            "SELECT reco.log_event(s.request_id, s.shoe_id, 'purchase') FROM reco.serve(1, 5) s LIMIT 1",
            "SELECT reco.rate(1, s.shoe_id, -1, s.request_id) FROM reco.serve(1, 5) s LIMIT 1",
        ] {
            assert_eq!(remote_try_sql(&name, q), "ok", "{q}");
        }
        assert_eq!(
            remote_text(&name, "SELECT count(*)::text FROM reco.recommend(1, 5)"),
            "5"
        );
        let data = data_dir();
        for q in [
            "SELECT * FROM reco.refresh()".to_string(),
            "SELECT * FROM reco.evaluate()".to_string(),
            "SELECT * FROM reco.evaluation_split() LIMIT 1".to_string(),
            "SELECT * FROM reco.similar_users(1)".to_string(),
            format!("SELECT * FROM reco.load_csv('{data}')"),
            format!("COPY reco.shoes FROM '{data}/shoes.csv' (FORMAT csv, HEADER)"),
            "SELECT reco.schedule_refresh()".to_string(),
            "SELECT reco.unschedule_refresh()".to_string(),
            format!("SELECT reco.grant_app('{app}')"),
            "UPDATE reco.action_weights SET weight = 100".to_string(),
            "INSERT INTO reco.action_weights VALUES ('like', 2)".to_string(),
            "UPDATE reco.service_settings SET care_delay_days = 1".to_string(),
            "UPDATE reco.models SET status = 'retired'".to_string(),
            "DELETE FROM reco.models".to_string(),
            "SELECT count(*) FROM reco.interactions".to_string(),
            "SELECT count(*) FROM reco.users".to_string(),
            "SELECT count(*) FROM reco.model_shoes".to_string(),
            "SELECT count(*) FROM reco.services_sent".to_string(),
            "INSERT INTO reco.interactions (user_id, shoe_id, action) VALUES (1, 1, 'purchase')"
                .to_string(),
            "UPDATE reco.shoes SET price = 0".to_string(),
            "SELECT reco.create_experiment('x', '[]')".to_string(),
            "SELECT * FROM reco.experiment_results('x')".to_string(),
            "SELECT count(*) FROM reco.impressions".to_string(),
            "SELECT count(*) FROM reco.events".to_string(),
            "SELECT count(*) FROM reco.ratings".to_string(),
            "UPDATE reco.experiments SET status = 'stopped'".to_string(),
            "SELECT * FROM reco.refresh(activate => false)".to_string(),
            "SELECT reco.activate(1)".to_string(),
            "SELECT reco.rollback()".to_string(),
            "SELECT reco.pin_model(1)".to_string(),
            "SELECT reco.unpin_model(1)".to_string(),
            "SELECT reco.reset_serving_stats()".to_string(),
            "SELECT * FROM reco.serving_stats".to_string(),
            "SELECT * FROM reco.health".to_string(),
            "SELECT count(*) FROM reco.model_activations".to_string(),
            "SELECT count(*) FROM reco.model_quality".to_string(),
            "SELECT count(*) FROM reco.model_drift".to_string(),
        ] {
            let got = remote_try_sql(&name, &q);
            assert!(got.starts_with("42501"), "{q}: {got}");
        }
        exec(&name, "RESET ROLE");
        perform(&name, &format!("SELECT reco.revoke_app(\'{app}\')"));
        exec(&name, &format!("SET ROLE {app}"));
        let got = remote_try_sql(&name, "SELECT * FROM reco.recommend(1, 5)");
        assert!(got.starts_with("42501"), "after revoke_app: {got}");
        exec(&name, "RESET ROLE");
        done(db, &[app]);
    }

    #[pg_test]
    fn schedule_refresh_by_a_non_owner_is_refused_with_42501() {
        let (db, other) = ("reco_test_schedule_owner", "reco_test_not_owner");
        let name = shop_with_attacker(db, other);
        // Granted EXECUTE by the owner, the function body refuses it, saying why.
        exec(
            &name,
            &format!(
                "GRANT USAGE ON SCHEMA reco TO {other};
                 GRANT EXECUTE ON FUNCTION reco.schedule_refresh(text, double precision), reco.unschedule_refresh(),
                     reco.require_extension_owner(text) TO {other};
                 SET ROLE {other}"
            ),
        );
        for f in ["schedule_refresh", "unschedule_refresh"] {
            let got = remote_try_sql(&name, &format!("SELECT reco.{f}()"));
            assert!(
                got.starts_with("42501") && got.contains("only the owner of the reco extension"),
                "{f}: {got}"
            );
        }
        exec(&name, "RESET ROLE");
        done(db, &[other]);
    }

    #[pg_test]
    fn the_nightly_pg_cron_job_runs_no_shadowed_code() {
        Spi::run(PG_CRON_LOCK).unwrap();
        let (db, attacker) = ("reco_test_shadow_cron", "reco_test_attacker_cron");
        let name = shop_with_attacker(db, attacker);
        plant_traps(&name, attacker);
        // pg_cron keeps its jobs in this database (cron.database_name); the job runs refresh() in
        // the scratch database, as the owner, with that database's default search_path
        // ("$user", public): the attack of issue #16.
        let port = one_text("SELECT current_setting('port')").unwrap();
        let user = one_text("SELECT current_user::text").unwrap();
        let here = one_text("SELECT current_database()::text").unwrap();
        let cron = format!("host=127.0.0.1 port={port} user={user} dbname={here}");
        let had_cron = one_i64("SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") > 0;
        remote_exec(&cron, "CREATE EXTENSION IF NOT EXISTS pg_cron");
        remote_perform(
            &cron,
            &format!("SELECT cron.schedule_in_database('reco-trap', '* * * * *', 'SELECT reco.refresh()', '{db}')"),
        );
        let runs = "SELECT coalesce(string_agg(d.status || ': ' || coalesce(d.return_message, ''), '; '), '')
             FROM cron.job_run_details d JOIN cron.job j USING (jobid)
             WHERE j.jobname = 'reco-trap' AND d.status IN ('succeeded', 'failed')";
        // The job starts at the next full minute.
        let mut ran = String::new();
        for _ in 0..75 {
            ran = remote_text(&cron, runs);
            if !ran.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        remote_perform(&cron, "SELECT cron.unschedule('reco-trap')");
        if !had_cron {
            remote_exec(&cron, "DROP EXTENSION pg_cron");
        }
        assert!(ran.starts_with("succeeded"), "the pg_cron job: {ran:?}");
        assert_eq!(
            remote_text(&name, "SELECT (count(*) >= 2)::text FROM reco.models"),
            "true",
            "the job's refresh() built a model"
        );
        assert_eq!(fired(&name), "", "traps ran");
        assert!(!is_superuser(attacker));
        done(db, &[attacker]);
    }
}
