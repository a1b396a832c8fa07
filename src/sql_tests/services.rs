//! SQL-level tests: Post-purchase services (sql/services.sql): reco.due_services, the sent log, settings, service periods and pg_cron scheduling.

#[pgrx::pg_schema]
mod tests {
    #[allow(unused_imports)]
    use crate::sql_tests::helpers::*;
    #[allow(unused_imports)]
    use pgrx::prelude::*;

    /// A hand-built shop for the services. Settings: running has its own row (care after 10 days;
    /// replacement 20 days before end of life, 2 suggestions); formal has a row with
    /// care_delay_days = 7 only (the rest inherits); hiking uses the built-ins (care after 30 days,
    /// replacement window 30, 3 suggestions). No 'default' row.
    ///
    /// Purchases (UTC days):
    ///   P1 u1 shoe 10 running  lifespan 100  2026-01-01
    ///   P2 u2 shoe 10 running  lifespan 100  2026-01-01, replaced by P3
    ///   P3 u2 shoe 12 running  lifespan 300  2026-03-25
    ///   P4 u3 shoe 10 running  lifespan 100  2026-01-01
    ///   P5 u3 shoe 11 running  lifespan 200  2026-01-01 (same day as P4: not a replacement of it)
    ///   P6 u4 shoe 13 running  lifespan 120  2026-01-01 (shoe 13 is inactive)
    ///   P7 u5 shoe 20 hiking   lifespan 400  2026-02-01 23:30 -05 = 2026-02-02 UTC
    ///   P8 u6 shoe 30 formal   lifespan 500  2026-01-05 (bought twice that day: one purchase)
    ///   P9 u1 shoe 21 hiking   lifespan 400  2026-03-01 (another type: does not replace P1)
    fn services_shop() {
        Spi::run(
        "INSERT INTO reco.users (user_id) VALUES (1), (2), (3), (4), (5), (6);
         INSERT INTO reco.shoes (shoe_id, name, brand, type, material, description, care_instructions, lifespan_days, active) VALUES
            (10, 'Road A', 'Stride', 'running', 'mesh', 'light road running shoe', 'Rinse and air-dry.', 100, true),
            (11, 'Road B', 'Stride', 'running', 'mesh', 'light road running shoe', 'Rinse and air-dry.', 200, true),
            (12, 'Road C', 'Pace', 'running', 'foam', 'cushioned running trainer', 'Hand wash.', 300, true),
            (13, 'Road Old', 'Stride', 'running', 'mesh', 'light road running shoe', 'Brush off the mud.', 120, false),
            (20, 'Hill Boot', 'Summit', 'hiking', 'leather', 'waterproof hiking boot', 'Wax monthly.', 400, true),
            (21, 'Hill Boot Two', 'Summit', 'hiking', 'leather', 'waterproof hiking boot', 'Wax monthly.', 400, true),
            (30, 'Oxford', 'Dapper', 'formal', 'leather', 'classic oxford', NULL, 500, true);
         INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES
            (1, 10, 'view', '2025-12-30 08:00+00'),
            (1, 10, 'purchase', '2026-01-01 10:00+00'),
            (2, 10, 'purchase', '2026-01-01 23:59:59+00'),
            (2, 11, 'view', '2026-03-23 12:00+00'),
            (2, 11, 'add_to_wishlist', '2026-03-23 12:01+00'),
            (2, 12, 'purchase', '2026-03-25 00:00+00'),
            (3, 10, 'purchase', '2026-01-01 09:00+00'),
            (3, 11, 'purchase', '2026-01-01 09:05+00'),
            (4, 13, 'purchase', '2026-01-01 00:00+00'),
            (5, 20, 'purchase', '2026-02-01 23:30-05'),
            (6, 30, 'purchase', '2026-01-05 10:00+00'),
            (6, 30, 'purchase', '2026-01-05 11:00+00'),
            (1, 21, 'purchase', '2026-03-01 15:00+00');
         INSERT INTO reco.service_settings (shoe_type, care_delay_days, replacement_window_days, suggestions)
            VALUES ('running', 10, 20, 2);
         INSERT INTO reco.service_settings (shoe_type, care_delay_days) VALUES ('formal', 7);",
    )
    .unwrap();
    }

    /// due_services(as_of) as "user shoe purchased_on service due_on" lines, in the function's order.
    fn due(as_of: &str) -> Vec<String> {
        Spi::connect(|c| {
            c.select(
                "SELECT format('%s %s %s %s %s', user_id, shoe_id, purchased_on, service, due_on)
             FROM reco.due_services($1::date)",
                None,
                &[as_of.into()],
            )
            .unwrap()
            .map(|r| r.get::<String>(1).unwrap().unwrap())
            .collect()
        })
    }

    /// due(as_of), only the rows of one user.
    fn due_user(as_of: &str, user_id: i64) -> Vec<String> {
        due(as_of)
            .into_iter()
            .filter(|l| l.starts_with(&format!("{user_id} ")))
            .collect()
    }

    /// due(as_of), only the rows of one service.
    fn due_of(as_of: &str, service: &str) -> Vec<String> {
        due(as_of)
            .into_iter()
            .filter(|l| l.contains(&format!(" {service} ")))
            .collect()
    }

    /// due_of(as_of, service), only the rows of one user.
    fn due_user_of(as_of: &str, user_id: i64, service: &str) -> Vec<String> {
        due_of(as_of, service)
            .into_iter()
            .filter(|l| l.starts_with(&format!("{user_id} ")))
            .collect()
    }

    /// reco.service_periods as sorted lines "user shoe purchased_on service due_on closed_on".
    fn periods() -> Vec<String> {
        Spi::connect(|c| {
            c.select(
            "SELECT format('%s %s %s %s %s %s', user_id, shoe_id, purchased_on, service, due_on,
                           coalesce(closed_on::text, 'open'))
             FROM reco.service_periods ORDER BY 1",
            None,
            &[],
        )
        .unwrap()
        .map(|r| r.get::<String>(1).unwrap().unwrap())
        .collect()
        })
    }

    /// The triggers kept reco.service_periods equal to a rebuild from scratch.
    fn assert_periods_consistent(when: &str) {
        let kept = periods();
        Spi::run("SELECT reco.rebuild_service_periods()").unwrap();
        assert_eq!(kept, periods(), "service periods after {when}");
    }

    /// (message, suggestions) of one row of due_services(as_of).
    fn due_row(
        as_of: &str,
        user_id: i64,
        shoe_id: i64,
        service: &str,
    ) -> (String, Option<Vec<i64>>) {
        Spi::connect(|c| {
            let t = c
                .select(
                    "SELECT message, suggestions FROM reco.due_services($1::date)
                 WHERE user_id = $2 AND shoe_id = $3 AND service = $4",
                    None,
                    &[as_of.into(), user_id.into(), shoe_id.into(), service.into()],
                )
                .unwrap();
            assert_eq!(
                t.len(),
                1,
                "one {service} row for user {user_id} shoe {shoe_id} on {as_of}"
            );
            let r = t.first();
            let msg: String = r.get(1).unwrap().unwrap();
            let sug: Option<Vec<i64>> = r.get(2).unwrap();
            (msg, sug)
        })
    }

    /// What the suggestions must be: similar()'s order, minus the shoes `owned`, first `n`.
    fn expected_suggestions(shoe_id: i64, owned: &[i64], n: usize) -> Vec<i64> {
        recommended_ids(&format!("SELECT shoe_id FROM reco.similar({shoe_id}, 100)"))
            .into_iter()
            .filter(|s| !owned.contains(s))
            .take(n)
            .collect()
    }

    fn lines(rows: &[&str]) -> Vec<String> {
        rows.iter().map(|s| s.to_string()).collect()
    }

    #[pg_test]
    fn services_care_thresholds() {
        services_shop();
        // Running: due 10 days after 2026-01-01.
        assert_eq!(due("2026-01-10"), Vec::<String>::new());
        let running = [
            "1 10 2026-01-01 care 2026-01-11",
            "2 10 2026-01-01 care 2026-01-11",
            "3 10 2026-01-01 care 2026-01-11",
            "3 11 2026-01-01 care 2026-01-11",
            "4 13 2026-01-01 care 2026-01-11",
        ];
        assert_eq!(due("2026-01-11"), lines(&running));
        // Formal: 7 days after 2026-01-05 (two purchases that day = one service).
        let mut with_formal = running.to_vec();
        with_formal.push("6 30 2026-01-05 care 2026-01-12");
        assert_eq!(due("2026-01-12"), lines(&with_formal));
        // Unsent, they stay due: a reminder is returned until it is sent.
        assert_eq!(due("2026-03-03"), lines(&with_formal));
        // Hiking, built-ins: bought 2026-02-01 23:30 -05, i.e. on 2026-02-02 UTC; due 30 days later.
        assert_eq!(due_user("2026-03-03", 5), Vec::<String>::new());
        let mut with_hiking = with_formal.clone();
        with_hiking.push("5 20 2026-02-02 care 2026-03-04");
        assert_eq!(due("2026-03-04"), lines(&with_hiking));
        // Two more purchases come due (P9 hiking on 2026-03-31, P3 running on 2026-04-04); the
        // first replacements start on 2026-03-22.
        assert_eq!(
            due_of("2026-04-04", "care"),
            lines(&[
                "1 10 2026-01-01 care 2026-01-11",
                "2 10 2026-01-01 care 2026-01-11",
                "3 10 2026-01-01 care 2026-01-11",
                "3 11 2026-01-01 care 2026-01-11",
                "4 13 2026-01-01 care 2026-01-11",
                "6 30 2026-01-05 care 2026-01-12",
                "5 20 2026-02-02 care 2026-03-04",
                "1 21 2026-03-01 care 2026-03-31",
                "2 12 2026-03-25 care 2026-04-04",
            ])
        );
        assert_eq!(
            due_of("2036-01-01", "care").len(),
            9,
            "still due ten years on"
        );

        // The message carries the care instructions, also for a shoe no longer sold.
        let (msg, sug) = due_row("2026-01-11", 1, 10, "care");
        assert_eq!(
            msg,
            "Time to care for your Road A (bought on 2026-01-01): Rinse and air-dry."
        );
        assert_eq!(sug, None);
        let (msg, _) = due_row("2026-01-11", 4, 13, "care");
        assert_eq!(
            msg,
            "Time to care for your Road Old (bought on 2026-01-01): Brush off the mud."
        );
        let (msg, _) = due_row("2026-01-12", 6, 30, "care");
        assert_eq!(msg, "Time to care for your Oxford (bought on 2026-01-05): see the product page for care instructions.");
    }

    #[pg_test]
    fn services_mark_sent_stops_a_care_reminder_from_that_day() {
        services_shop();
        Spi::run("SELECT reco.mark_service_sent(5, 20, '2026-02-02', 'care', '2026-03-06')")
            .unwrap();
        let hiking = lines(&["5 20 2026-02-02 care 2026-03-04"]);
        assert_eq!(
            due_user("2026-03-04", 5),
            hiking,
            "replaying a day before sent_on still shows it"
        );
        assert_eq!(due_user("2026-03-05", 5), hiking);
        assert_eq!(due_user("2026-03-06", 5), Vec::<String>::new());
        assert_eq!(due_user_of("2030-01-01", 5, "care"), Vec::<String>::new());
        // Marking again later keeps the earliest day; marking earlier moves it.
        Spi::run("SELECT reco.mark_service_sent(5, 20, '2026-02-02', 'care', '2026-03-10')")
            .unwrap();
        assert_eq!(due_user("2026-03-06", 5), Vec::<String>::new());
        Spi::run("SELECT reco.mark_service_sent(5, 20, '2026-02-02', 'care', '2026-03-05')")
            .unwrap();
        assert_eq!(due_user("2026-03-05", 5), Vec::<String>::new());
        assert_eq!(due_user("2026-03-04", 5), hiking);
        assert_eq!(
            one_text("SELECT sent_on::text FROM reco.services_sent WHERE user_id = 5").unwrap(),
            "2026-03-05"
        );
        // Marked done before it was due: never returned.
        Spi::run("SELECT reco.mark_service_sent(6, 30, '2026-01-05', 'care', '2026-01-06')")
            .unwrap();
        assert_eq!(due_user("2026-01-12", 6), Vec::<String>::new());
        // Sending care does not touch the replacement of the same purchase.
        assert_eq!(
            due_user("2027-02-07", 5),
            lines(&["5 20 2026-02-02 replacement 2027-02-07"])
        );
        // Un-sending (the application deletes its log row) makes it due again.
        Spi::run("DELETE FROM reco.services_sent WHERE user_id = 5").unwrap();
        assert_eq!(due_user_of("2030-01-01", 5, "care"), hiking);
        assert_periods_consistent("marking and un-marking");
    }

    #[pg_test]
    fn services_replacement_thresholds() {
        services_shop();
        // P1, P2, P4: end of life 2026-01-01 + 100 = 2026-04-11, due 20 days before (2026-03-22).
        assert_eq!(due_of("2026-03-21", "replacement"), Vec::<String>::new());
        let three = [
            "1 10 2026-01-01 replacement 2026-03-22",
            "2 10 2026-01-01 replacement 2026-03-22",
            "3 10 2026-01-01 replacement 2026-03-22",
        ];
        assert_eq!(due_of("2026-03-22", "replacement"), lines(&three));
        // User 2 viewed and wishlisted shoe 11 (not purchases): still due.
        assert_eq!(due_of("2026-03-24", "replacement"), lines(&three));
        // User 2 bought shoe 12 (running) on 2026-03-25: replaced from that day on.
        let p1_p4 = [
            "1 10 2026-01-01 replacement 2026-03-22",
            "3 10 2026-01-01 replacement 2026-03-22",
        ];
        assert_eq!(due_of("2026-03-25", "replacement"), lines(&p1_p4));
        // User 1 bought shoe 21 (hiking) on 2026-03-01: another type, no replacement of P1.
        assert_eq!(due_of("2026-04-10", "replacement"), lines(&p1_p4));
        // End of life of P1/P4 (2026-04-11); P6 (inactive shoe 13, lifespan 120) due 2026-04-11.
        let mut with_p6 = p1_p4.to_vec();
        with_p6.push("4 13 2026-01-01 replacement 2026-04-11");
        assert_eq!(due_of("2026-04-11", "replacement"), lines(&with_p6));
        // P5 (shoe 11, lifespan 200, bought the same day as P4: not a replacement of it): end of
        // life 2026-07-20, due 2026-06-30.
        assert_eq!(due_of("2026-06-29", "replacement"), lines(&with_p6));
        let mut with_p5 = with_p6.clone();
        with_p5.push("3 11 2026-01-01 replacement 2026-06-30");
        assert_eq!(due_of("2026-06-30", "replacement"), lines(&with_p5));
        // Past end of life, an unsent, unreplaced replacement stays due, years on: all of them.
        assert_eq!(
            due_of("2031-06-01", "replacement"),
            lines(&[
                "1 10 2026-01-01 replacement 2026-03-22",
                "3 10 2026-01-01 replacement 2026-03-22",
                "4 13 2026-01-01 replacement 2026-04-11",
                "3 11 2026-01-01 replacement 2026-06-30",
                "2 12 2026-03-25 replacement 2026-12-30",
                "5 20 2026-02-02 replacement 2027-02-07",
                "1 21 2026-03-01 replacement 2027-03-06",
                "6 30 2026-01-05 replacement 2027-04-20",
            ])
        );
        // Replay is deterministic: an earlier day still shows what a later purchase ended.
        assert_eq!(due_of("2026-03-24", "replacement"), lines(&three));

        // Messages before and after end of life.
        let (msg, _) = due_row("2026-04-10", 1, 10, "replacement");
        assert_eq!(
        msg,
        "Your Road A (bought on 2026-01-01) reaches the end of its expected life on 2026-04-11: time to look for a replacement."
    );
        let (msg, _) = due_row("2026-04-11", 1, 10, "replacement");
        assert_eq!(
        msg,
        "Your Road A (bought on 2026-01-01) passed the end of its expected life on 2026-04-11: time for a replacement."
    );
    }

    #[pg_test]
    fn services_follow_later_writes_of_purchases_shoes_and_settings() {
        services_shop();
        assert_periods_consistent("loading the shop");
        let p1 = "1 10 2026-01-01 replacement 2026-03-22".to_string();
        // A later running purchase replaces P1 from its UTC day on; replaying earlier days still
        // shows P1 due.
        Spi::run("INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES (1, 12, 'purchase', '2026-08-01 12:00+00')")
        .unwrap();
        assert!(due_of("2026-07-31", "replacement").contains(&p1));
        assert!(!due_of("2026-08-01", "replacement").contains(&p1));
        assert_eq!(
            due_user_of("2026-08-11", 1, "care"),
            lines(&[
                "1 10 2026-01-01 care 2026-01-11",
                "1 21 2026-03-01 care 2026-03-31",
                "1 12 2026-08-01 care 2026-08-11",
            ])
        );
        assert_periods_consistent("a purchase");
        // Moved to another day: replaced from then on.
        Spi::run("UPDATE reco.interactions SET occurred_at = '2026-09-01 08:00+00' WHERE user_id = 1 AND shoe_id = 12")
        .unwrap();
        assert!(due_of("2026-08-01", "replacement").contains(&p1));
        assert!(!due_of("2026-09-01", "replacement").contains(&p1));
        assert_periods_consistent("an updated purchase");
        // Deleted: due again, forever.
        Spi::run("DELETE FROM reco.interactions WHERE user_id = 1 AND shoe_id = 12").unwrap();
        assert!(due_of("2030-01-01", "replacement").contains(&p1));
        assert_periods_consistent("a deleted purchase");
        // A view is not a purchase.
        Spi::run("INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) VALUES (1, 11, 'view', '2026-05-01')")
        .unwrap();
        assert!(due_of("2030-01-01", "replacement").contains(&p1));
        // Shoe 21 (bought by user 1 on 2026-03-01) becomes a running shoe: it replaces P1 before P1
        // was due, so P1's replacement is never due.
        Spi::run("UPDATE reco.shoes SET type = 'running' WHERE shoe_id = 21").unwrap();
        assert!(!due_of("2026-03-22", "replacement").contains(&p1));
        assert!(!due_of("2030-01-01", "replacement").contains(&p1));
        assert_periods_consistent("a changed type");
        Spi::run("UPDATE reco.shoes SET type = 'hiking' WHERE shoe_id = 21").unwrap();
        assert!(due_of("2026-03-22", "replacement").contains(&p1));
        // A longer lifespan moves the due day: shoe 13 from 120 to 200 days (end of life
        // 2026-07-20, due 20 days before).
        Spi::run("UPDATE reco.shoes SET lifespan_days = 200 WHERE shoe_id = 13").unwrap();
        assert_eq!(
            due_user_of("2026-06-30", 4, "replacement"),
            lines(&["4 13 2026-01-01 replacement 2026-06-30"])
        );
        assert_eq!(
            due_user_of("2026-06-29", 4, "replacement"),
            Vec::<String>::new()
        );
        // Deactivating a shoe changes nothing about the services of its owners.
        let before = periods();
        Spi::run("UPDATE reco.shoes SET active = false WHERE shoe_id = 10").unwrap();
        assert_eq!(periods(), before);
        // Settings apply to purchases made before them.
        Spi::run(
            "UPDATE reco.service_settings SET care_delay_days = 3 WHERE shoe_type = 'running'",
        )
        .unwrap();
        assert_eq!(
            due_user("2026-01-04", 1),
            lines(&["1 10 2026-01-01 care 2026-01-04"])
        );
        Spi::run("DELETE FROM reco.service_settings").unwrap();
        assert_eq!(due_user("2026-01-30", 1), Vec::<String>::new());
        assert_eq!(
            due_user("2026-01-31", 1),
            lines(&["1 10 2026-01-01 care 2026-01-31"])
        );
        assert_periods_consistent("settings changes");
        // One statement buying for 100 users at once.
        Spi::run(
        "INSERT INTO reco.users (user_id) SELECT g FROM generate_series(100, 199) g;
         INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
         SELECT g, 10 + g % 2, 'purchase', '2026-06-01 10:00+00'::timestamptz FROM generate_series(100, 199) g
         UNION ALL SELECT 1, 11, 'purchase', '2026-06-01 10:00+00'",
    )
    .unwrap();
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.service_periods WHERE user_id BETWEEN 100 AND 199"),
            200
        );
        assert!(!due_of("2026-06-01", "replacement").contains(&p1));
        assert_periods_consistent("a purchase by 101 users in one statement");
        // Deleting a user or a shoe takes their services along; emptying the log empties them all.
        Spi::run("DELETE FROM reco.users WHERE user_id = 3").unwrap();
        assert_eq!(due_user("2030-01-01", 3), Vec::<String>::new());
        Spi::run("DELETE FROM reco.shoes WHERE shoe_id = 30").unwrap();
        assert_eq!(due_user("2030-01-01", 6), Vec::<String>::new());
        assert_periods_consistent("deleting a user and a shoe");
        Spi::run("TRUNCATE reco.interactions").unwrap();
        assert_eq!(periods(), Vec::<String>::new());
        assert_eq!(due("2030-01-01"), Vec::<String>::new());
    }

    #[pg_test]
    fn services_mark_replacement_done() {
        services_shop();
        Spi::run(
        "SELECT reco.mark_service_sent(user_id => 1, shoe_id => 10, purchased_on => '2026-01-01',
                                       service => 'replacement', sent_on => '2026-04-20')",
    )
    .unwrap();
        assert!(due("2026-04-19").contains(&"1 10 2026-01-01 replacement 2026-03-22".to_string()));
        assert_eq!(
            due_of("2026-04-20", "replacement"),
            lines(&[
                "3 10 2026-01-01 replacement 2026-03-22",
                "4 13 2026-01-01 replacement 2026-04-11",
            ])
        );
        assert_eq!(
            due_of("2030-01-01", "replacement").len(),
            7,
            "the other replacements stay due"
        );
        // The application may also write the log itself, e.g. everything returned today: 9 care
        // reminders (every purchase) and 2 replacements.
        assert_eq!(due_of("2026-05-10", "care").len(), 9);
        assert_eq!(due_of("2026-05-10", "replacement").len(), 2);
        Spi::run(
        "INSERT INTO reco.services_sent (user_id, shoe_id, purchased_on, service, sent_on)
         SELECT user_id, shoe_id, purchased_on, service, '2026-05-10' FROM reco.due_services('2026-05-10')",
    )
    .unwrap();
        assert_eq!(due("2026-05-10"), Vec::<String>::new());
        assert_eq!(due("2026-05-09").len(), 11);
        let logged = periods();
        Spi::run("TRUNCATE reco.services_sent").unwrap();
        assert_eq!(
            due("2026-05-10").len(),
            12,
            "the 11 and user 1's replacement"
        );
        assert_periods_consistent("emptying the log");
        Spi::run(
        "INSERT INTO reco.services_sent (user_id, shoe_id, purchased_on, service, sent_on)
         SELECT user_id, shoe_id, purchased_on, service, '2026-05-10' FROM reco.due_services('2026-05-10')",
    )
    .unwrap();
        assert_eq!(due("2026-05-10"), Vec::<String>::new());
        // From then on only what comes due later: P5's replacement on 2026-06-30.
        assert_eq!(
            due("2026-06-30"),
            lines(&["3 11 2026-01-01 replacement 2026-06-30"])
        );
        assert_ne!(
            periods(),
            logged,
            "user 1's replacement is now closed on 2026-05-10"
        );
        assert_periods_consistent("a bulk insert into the log");
    }

    #[pg_test]
    fn services_replacement_suggestions() {
        services_shop();
        // User 1 owns 10 and 21 on 2026-03-22: similar active running shoes, most similar first.
        let (_, sug) = due_row("2026-03-22", 1, 10, "replacement");
        assert_eq!(sug, Some(vec![11, 12]));
        assert_eq!(sug.unwrap(), expected_suggestions(10, &[10, 21], 2));
        // User 3 already owns 11 (bought with 10): not suggested back.
        let (_, sug) = due_row("2026-03-22", 3, 10, "replacement");
        let sug = sug.unwrap();
        assert_eq!(sug, expected_suggestions(10, &[10, 11], 2));
        assert_eq!(sug[0], 12);
        assert!(!sug.contains(&11) && !sug.contains(&13));
        // User 4 bought shoe 13, since deactivated: suggestions come from active shoes.
        let (_, sug) = due_row("2026-04-11", 4, 13, "replacement");
        let sug = sug.unwrap();
        assert_eq!(sug, expected_suggestions(13, &[13], 2));
        assert_eq!(sug.len(), 2);
        assert!(sug.contains(&10) && sug.contains(&11), "{sug:?}");
        // Still true with an active CF model, and after a suggested shoe is deactivated.
        Spi::run("SELECT reco.refresh()").unwrap();
        let (_, sug) = due_row("2026-04-11", 4, 13, "replacement");
        assert_eq!(sug.unwrap(), expected_suggestions(13, &[13], 2));
        Spi::run("UPDATE reco.shoes SET active = false WHERE shoe_id = 11").unwrap();
        let (_, sug) = due_row("2026-04-11", 4, 13, "replacement");
        let sug = sug.unwrap();
        assert!(!sug.contains(&11) && !sug.contains(&13), "{sug:?}");
        assert_eq!(sug, expected_suggestions(13, &[13], 2));
        // Hiking uses the built-in 3 suggestions; user 5 owns only 20.
        let (_, sug) = due_row("2027-03-01", 5, 20, "replacement");
        let sug = sug.unwrap();
        assert_eq!(sug.len(), 3);
        assert_eq!(sug[0], 21);
        assert_eq!(sug, expected_suggestions(20, &[20], 3));
    }

    #[pg_test]
    fn similar_lists_are_similar_lists_in_one_call() {
        services_shop();
        install_try_sql();
        let check = || {
            let lists: Vec<(i64, Vec<i64>)> = Spi::connect(|c| {
                c.select(
                "SELECT shoe_id, similar_ids FROM reco.similar_lists(ARRAY[10, 13, 20, 30, 10], ARRAY[3, 2, 100, 1, 1])",
                None,
                &[],
            )
            .unwrap()
            .map(|r| (r.get::<i64>(1).unwrap().unwrap(), r.get::<Vec<i64>>(2).unwrap().unwrap()))
            .collect()
            });
            let want: Vec<(i64, Vec<i64>)> = [(10, 3), (13, 2), (20, 100), (30, 1), (10, 1)]
                .iter()
                .map(|&(id, k)| {
                    (
                        id,
                        recommended_ids(&format!("SELECT shoe_id FROM reco.similar({id}, {k})")),
                    )
                })
                .collect();
            assert_eq!(lists, want);
            assert_eq!(lists[2].1.len(), 5, "every other active shoe");
        };
        check();
        Spi::run("SELECT reco.refresh()").unwrap();
        check();
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.similar_lists('{}', '{}')"),
            0
        );
        let r = try_sql("SELECT * FROM reco.similar_lists(ARRAY[10, 11], ARRAY[3])");
        assert!(
            r.starts_with("22023") && r.contains("shoe_ids has 2 elements but ks has 1"),
            "{r}"
        );
        assert!(
            try_sql("SELECT * FROM reco.similar_lists(ARRAY[10, NULL], ARRAY[3, 3])")
                .starts_with("22004")
        );
        assert!(
            try_sql("SELECT * FROM reco.similar_lists(ARRAY[10, 99], ARRAY[3, 3])")
                .starts_with("P0002")
        );
        assert!(
            try_sql("SELECT * FROM reco.similar_lists(ARRAY[10], ARRAY[0])").starts_with("22023")
        );
    }

    #[pg_test]
    fn services_settings_resolution() {
        services_shop();
        install_try_sql();
        // Hiking P7 (2026-02-02, lifespan 400): end of life 2027-03-09; built-in window 30 days
        // (due 2027-02-07); unsent and unreplaced, it stays due.
        let rep = |as_of: &str| due_user_of(as_of, 5, "replacement");
        assert_eq!(rep("2027-02-06"), Vec::<String>::new());
        assert_eq!(
            rep("2027-02-07"),
            lines(&["5 20 2026-02-02 replacement 2027-02-07"])
        );
        assert_eq!(
            rep("2029-03-08"),
            lines(&["5 20 2026-02-02 replacement 2027-02-07"])
        );
        // A 'default' value applies to hiking (no hiking row) ...
        Spi::run("INSERT INTO reco.service_settings (shoe_type, replacement_window_days, suggestions) VALUES ('default', 10, 0)")
        .unwrap();
        assert_eq!(rep("2027-02-26"), Vec::<String>::new());
        assert_eq!(
            rep("2027-02-27"),
            lines(&["5 20 2026-02-02 replacement 2027-02-27"])
        );
        let (_, sug) = due_row("2027-02-27", 5, 20, "replacement");
        assert_eq!(sug, Some(vec![]));
        // ... and a hiking row overrides it, column by column (NULL = inherit).
        Spi::run("INSERT INTO reco.service_settings (shoe_type, replacement_window_days, care_delay_days) VALUES ('hiking', 40, 1)")
        .unwrap();
        assert_eq!(rep("2027-01-27"), Vec::<String>::new());
        assert_eq!(
            rep("2027-01-28"),
            lines(&["5 20 2026-02-02 replacement 2027-01-28"])
        );
        let (_, sug) = due_row("2027-01-28", 5, 20, "replacement");
        assert_eq!(sug, Some(vec![]), "suggestions inherited from 'default'");
        assert_eq!(due_user("2026-02-02", 5), Vec::<String>::new());
        assert_eq!(
            due_user("2026-02-03", 5),
            lines(&["5 20 2026-02-02 care 2026-02-03"])
        );
        // Running keeps its own row: care after 10 days.
        assert_eq!(
            due_user_of("2026-01-11", 1, "care"),
            lines(&["1 10 2026-01-01 care 2026-01-11"])
        );
        // Only suggestions changed: nothing to recompute, the periods stay as they are.
        let before = periods();
        Spi::run("UPDATE reco.service_settings SET suggestions = 1 WHERE shoe_type = 'default'")
            .unwrap();
        assert_eq!(periods(), before);
        // Emptying the settings brings the built-ins back.
        Spi::run("TRUNCATE reco.service_settings").unwrap();
        assert_eq!(
            rep("2027-02-07"),
            lines(&["5 20 2026-02-02 replacement 2027-02-07"])
        );
        assert_periods_consistent("settings emptied");
        // Bad values are refused.
        assert!(try_sql(
        "INSERT INTO reco.service_settings (shoe_type, replacement_window_days) VALUES ('casual', -1)"
    )
    .starts_with("23514"));
        assert!(try_sql(
            "INSERT INTO reco.service_settings (shoe_type, suggestions) VALUES ('casual', 101)"
        )
        .starts_with("23514"));
        assert!(try_sql(
            "INSERT INTO reco.service_settings (shoe_type, care_delay_days) VALUES ('casual', -1)"
        )
        .starts_with("23514"));
    }

    #[pg_test]
    fn services_argument_errors() {
        services_shop();
        install_try_sql();
        let r = try_sql("SELECT * FROM reco.due_services(NULL)");
        assert!(
            r.starts_with("22004") && r.contains("as_of must not be NULL"),
            "{r}"
        );
        assert!(try_sql("SELECT * FROM reco.due_services('infinity')").starts_with("22023"));
        let r =
            try_sql("SELECT reco.mark_service_sent(1, 10, '2026-01-01', 'repair', '2026-02-01')");
        assert!(
            r.starts_with("22023") && r.contains("unknown service \"repair\""),
            "{r}"
        );
        let r = try_sql("SELECT reco.mark_service_sent(1, 10, '2026-01-01', 'care', NULL)");
        assert!(r.starts_with("22004"), "{r}");
        let r = try_sql("SELECT reco.mark_service_sent(1, 10, NULL, 'care')");
        assert!(r.starts_with("22004"), "{r}");
        let r = try_sql("SELECT reco.mark_service_sent(1, 10, '2026-01-01', 'care', '2025-12-31')");
        assert!(r.starts_with("22023"), "{r}");
        // No such purchase: wrong day, a view, someone else's shoe.
        let r = try_sql("SELECT reco.mark_service_sent(1, 10, '2026-01-02', 'care', '2026-02-01')");
        assert!(
            r.starts_with("P0002") && r.contains("user 1 did not buy shoe 10 on 2026-01-02"),
            "{r}"
        );
        assert!(try_sql(
            "SELECT reco.mark_service_sent(1, 10, '2025-12-30', 'care', '2026-02-01')"
        )
        .starts_with("P0002"));
        assert!(try_sql(
            "SELECT reco.mark_service_sent(1, 20, '2026-02-02', 'care', '2026-03-01')"
        )
        .starts_with("P0002"));
        // User 5's purchase is on 2026-02-02 UTC, not on the local 2026-02-01.
        assert!(try_sql(
            "SELECT reco.mark_service_sent(5, 20, '2026-02-01', 'care', '2026-03-01')"
        )
        .starts_with("P0002"));
        assert_eq!(
            try_sql("SELECT reco.mark_service_sent(5, 20, '2026-02-02', 'care', '2026-03-01')"),
            "ok"
        );
        // The log itself refuses bad rows written by the application.
        assert!(try_sql(
            "INSERT INTO reco.services_sent VALUES (1, 10, '2026-01-01', 'repair', '2026-02-01')"
        )
        .starts_with("23514"));
        assert_eq!(one_i64("SELECT count(*) FROM reco.services_sent"), 1);
    }

    #[pg_test]
    fn services_do_not_depend_on_now_or_timezone() {
        services_shop();
        let expected = due("2026-04-11");
        assert_eq!(expected.len(), 12, "9 care reminders and 3 replacements");
        Spi::run("SET LOCAL TimeZone = 'Pacific/Kiritimati'").unwrap();
        assert_eq!(due("2026-04-11"), expected);
        Spi::run("SET LOCAL TimeZone = 'America/Los_Angeles'").unwrap();
        assert_eq!(due("2026-04-11"), expected);
        // The default is current_date.
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.due_services()"),
            one_i64("SELECT count(*) FROM reco.due_services(current_date)")
        );
        // An empty catalogue is not an error.
        Spi::run("DELETE FROM reco.shoes").unwrap();
        assert_eq!(due("2026-04-11"), Vec::<String>::new());
    }

    #[pg_test]
    fn services_objects_are_documented_and_dumped() {
        for f in [
            "reco.due_services(date)",
            "reco.mark_service_sent(bigint, bigint, date, text, date)",
            "reco.schedule_refresh(text, double precision)",
            "reco.unschedule_refresh()",
            "reco.rebuild_service_periods(bigint[])",
        ] {
            assert!(
                one_text(&format!(
                    "SELECT obj_description('{f}'::regprocedure, 'pg_proc')"
                ))
                .is_some(),
                "{f}"
            );
        }
        assert_eq!(
        one_i64(
            "SELECT count(*) FROM pg_extension e, unnest(e.extconfig) c
             WHERE e.extname = 'reco' AND c IN ('reco.service_settings'::regclass, 'reco.services_sent'::regclass)"
        ),
        2
    );
        assert_eq!(
            one_i64("SELECT count(*) FROM reco.service_settings"),
            0,
            "ships empty: built-in defaults"
        );
        for idx in ["interactions_purchase_user_idx", "service_periods_due_idx"] {
            assert_eq!(
                one_i64(&format!(
                "SELECT count(*) FROM pg_indexes WHERE schemaname = 'reco' AND indexname = '{idx}'"
            )),
                1,
                "{idx}"
            );
        }
    }

    #[pg_test]
    fn service_periods_are_derived_and_not_writable_by_public() {
        assert!(!Spi::get_one::<bool>(
        "SELECT has_function_privilege('public', 'reco.rebuild_service_periods(bigint[])', 'EXECUTE')"
    )
    .unwrap()
    .unwrap());
        assert_eq!(
            one_i64(
                "SELECT count(*) FROM pg_extension e, unnest(e.extconfig) c
             WHERE e.extname = 'reco' AND c = 'reco.service_periods'::regclass"
            ),
            0,
            "derived: not dumped, rebuilt by the triggers on restore"
        );
    }

    /// Over dblink connections 'a' and 'b': a opens a transaction and buys shoe `in_a` for user 1,
    /// b (already in whatever transaction state it is in) sends its purchase of `in_b`, which must
    /// wait for a; then a commits. b's result is left for the caller to collect.
    fn race_two_purchases(in_a: (i64, &str), in_b: (i64, &str)) {
        let buy = |(shoe, day): (i64, &str)| {
            format!(
                "INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at) \
             VALUES (1, {shoe}, 'purchase', '{day} 12:00+00')"
            )
        };
        Spi::run("SELECT dblink_exec('a', 'BEGIN')").unwrap();
        Spi::run_with_args("SELECT dblink_exec('a', $1)", &[buy(in_a).into()]).unwrap();
        Spi::run_with_args("SELECT dblink_send_query('b', $1)", &[buy(in_b).into()]).unwrap();
        Spi::run("SELECT pg_sleep(0.3)").unwrap();
        assert_eq!(
            one_i64("SELECT dblink_is_busy('b')::bigint"),
            1,
            "b waits for a"
        );
        Spi::run("SELECT dblink_exec('a', 'COMMIT')").unwrap();
    }

    /// Two sessions buying for the same user at once: the second rebuild waits for the first and
    /// then sees its rows, instead of failing on a duplicate key or losing the first purchase.
    #[pg_test]
    fn concurrent_purchases_of_one_user_keep_service_periods_right() {
        let db = "reco_test_service_periods";
        let conn = scratch_database(db);
        for name in ["a", "b"] {
            Spi::run_with_args(
                "SELECT dblink_connect($1, $2)",
                &[name.into(), conn.as_str().into()],
            )
            .unwrap();
        }
        Spi::run(
        "SELECT dblink_exec('a', $$
            INSERT INTO reco.users (user_id) VALUES (1);
            INSERT INTO reco.shoes (shoe_id, name, brand, type, lifespan_days) VALUES
                (10, 'A', 'X', 'running', 100), (11, 'B', 'X', 'running', 100), (12, 'C', 'X', 'running', 100);
            INSERT INTO reco.interactions (user_id, shoe_id, action, occurred_at)
                VALUES (1, 10, 'purchase', '2026-01-01 12:00+00')$$)",
    )
    .unwrap();
        race_two_purchases((11, "2026-02-01"), (12, "2026-03-01"));
        // b finishes without an error (dblink_get_result raises it otherwise).
        Spi::run("SELECT * FROM dblink_get_result('b') AS t(status text)").unwrap();
        Spi::run("SELECT * FROM dblink_get_result('b') AS t(status text)").unwrap();
        let rows = |sql: &str| -> Vec<String> {
            Spi::connect(|c| {
                c.select(
                    "SELECT v FROM dblink('a', $1) AS t(v text)",
                    None,
                    &[sql.into()],
                )
                .unwrap()
                .map(|r| r.get::<String>(1).unwrap().unwrap())
                .collect()
            })
        };
        let q = "SELECT format('%s %s %s %s', shoe_id, service, due_on, coalesce(closed_on::text, 'open'))
             FROM reco.service_periods ORDER BY 1";
        let kept = rows(q);
        assert_eq!(
            kept,
            lines(&[
                "10 care 2026-01-31 open",
                "10 replacement 2026-03-12 2026-03-12",
                "11 care 2026-03-03 open",
                "11 replacement 2026-04-12 2026-04-12",
                "12 care 2026-03-31 open",
                "12 replacement 2026-05-10 open",
            ])
        );
        rows("SELECT reco.rebuild_service_periods()::text");
        assert_eq!(rows(q), kept);

        // Under REPEATABLE READ, b cannot see what a commits while it waits: it must fail with a
        // serialization error rather than write periods without a's purchase.
        Spi::run("SELECT dblink_exec('b', 'BEGIN ISOLATION LEVEL REPEATABLE READ')").unwrap();
        // The first query of b takes its snapshot.
        Spi::run(
            "SELECT * FROM dblink('b', 'SELECT count(*) FROM reco.interactions') AS t(n bigint)",
        )
        .unwrap();
        race_two_purchases((10, "2026-04-01"), (11, "2026-05-01"));
        Spi::run("SELECT * FROM dblink_get_result('b', false) AS t(status text)").unwrap();
        let err = one_text("SELECT dblink_error_message('b')").unwrap();
        assert!(err.contains("could not serialize access"), "{err}");
        Spi::run("SELECT * FROM dblink_get_result('b', false) AS t(status text)").unwrap();
        Spi::run("SELECT dblink_exec('b', 'ROLLBACK')").unwrap();
        let kept = rows(q);
        rows("SELECT reco.rebuild_service_periods()::text");
        assert_eq!(rows(q), kept);
        drop_scratch_database(db);
    }

    /// Like try_sql, but returns 'SQLSTATE: message | hint'.
    fn try_sql_hint(q: &str) -> String {
        Spi::run(
        "CREATE OR REPLACE FUNCTION pg_temp.try_sql_hint(q text) RETURNS text LANGUAGE plpgsql AS $$
         DECLARE h text;
         BEGIN EXECUTE q; RETURN 'ok';
         EXCEPTION WHEN others THEN
             GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
             RETURN SQLSTATE || ': ' || SQLERRM || ' | ' || h;
         END $$",
    )
    .unwrap();
        Spi::get_one_with_args::<String>("SELECT pg_temp.try_sql_hint($1)", &[q.into()])
            .unwrap()
            .unwrap()
    }

    #[pg_test]
    fn schedule_refresh_without_the_pg_cron_extension_says_how_to_enable_it() {
        Spi::run(PG_CRON_LOCK).unwrap();
        // The test cluster preloads pg_cron, but the extension is not created in this transaction.
        if one_i64("SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'") > 0 {
            Spi::run("DROP EXTENSION pg_cron").unwrap();
        }
        let r = try_sql_hint("SELECT reco.schedule_refresh()");
        assert!(
            r.starts_with("55000") && r.contains("pg_cron extension is not installed"),
            "{r}"
        );
        assert!(
            r.contains("CREATE EXTENSION pg_cron") && r.contains("cron.database_name"),
            "{r}"
        );
        let r = try_sql_hint("SELECT reco.unschedule_refresh()");
        assert!(r.starts_with("55000"), "{r}");
        let r = try_sql_hint("SELECT reco.schedule_refresh(NULL)");
        assert!(r.starts_with("22004"), "{r}");
    }

    #[pg_test]
    fn schedule_refresh_with_pg_cron() {
        Spi::run(PG_CRON_LOCK).unwrap();
        services_shop();
        Spi::run("CREATE EXTENSION IF NOT EXISTS pg_cron").unwrap();
        let job = one_i64("SELECT reco.schedule_refresh('*/5 * * * *')");
        let row = one_text(&format!(
        "SELECT format('%s|%s|%s|%s', jobname, schedule, command, database = current_database()) FROM cron.job WHERE jobid = {job}"
    ))
    .unwrap();
        assert_eq!(
            row,
            "reco-refresh|*/5 * * * *|SET application_name = 'reco-refresh (pg_cron)'; SELECT reco.refresh(max_quality_drop => NULL)|t"
        );
        // Scheduling again updates the same job.
        assert_eq!(one_i64("SELECT reco.schedule_refresh()"), job);
        assert_eq!(
            one_text(
                "SELECT string_agg(schedule, ',') FROM cron.job WHERE jobname = 'reco-refresh'"
            )
            .unwrap(),
            "0 3 * * *"
        );
        // Run the job's command as pg_cron would: a new active model appears.
        let before = one_i64("SELECT count(*) FROM reco.models");
        let command =
            one_text(&format!("SELECT command FROM cron.job WHERE jobid = {job}")).unwrap();
        Spi::run(&command).unwrap();
        assert_eq!(one_i64("SELECT count(*) FROM reco.models"), before + 1);
        // The job's activation is logged as scheduled (a direct call's as automatic).
        assert_eq!(
            one_text("SELECT how FROM reco.model_activations ORDER BY activation_id DESC LIMIT 1")
                .unwrap(),
            "scheduled"
        );
        assert_eq!(
        one_i64("SELECT count(*) FROM reco.models WHERE status = 'active' AND model_id = (SELECT max(model_id) FROM reco.models)"),
        1
    );
        // Unschedule: gone; a second call has nothing to remove.
        assert!(Spi::get_one::<bool>("SELECT reco.unschedule_refresh()")
            .unwrap()
            .unwrap());
        assert_eq!(
            one_i64("SELECT count(*) FROM cron.job WHERE jobname = 'reco-refresh'"),
            0
        );
        assert!(!Spi::get_one::<bool>("SELECT reco.unschedule_refresh()")
            .unwrap()
            .unwrap());
        // A bad schedule is pg_cron's error, and leaves no job.
        install_try_sql();
        assert_ne!(try_sql("SELECT reco.schedule_refresh('every day')"), "ok");
    }
}
