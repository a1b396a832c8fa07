// Tests of the post-purchase services (sql/services.sql).
