-- pgbench script: reco.log_event() of a click on a random shown shoe of a random earlier
-- request (requests 1..max_rid exist, each with 10 shoes; a repeat is de-duplicated).
\set rid random(1, :max_rid)
\set pos random(1, 10)
SELECT reco.log_event(:rid, (SELECT i.shoe_ids[:pos] FROM reco.impressions i WHERE i.request_id = :rid), 'click');
