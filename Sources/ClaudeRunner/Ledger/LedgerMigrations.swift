import GRDB

/// The ledger's schema, one migration per change.
///
/// A migration that has shipped is never edited: a database created by an older runner is brought up to date
/// when it is opened by running the migrations it lacks. Migrations speak SQL only, not the application's types,
/// because they describe past states of the database.
enum LedgerMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE runs (
                        id TEXT NOT NULL PRIMARY KEY,
                        kind TEXT NOT NULL,
                        transport TEXT NOT NULL,
                        repo TEXT,
                        ref TEXT,
                        base_ref TEXT,
                        event TEXT,
                        pr_number INTEGER,
                        issue_number INTEGER,
                        model TEXT,
                        status TEXT NOT NULL,
                        error TEXT,
                        created_at INTEGER NOT NULL,
                        started_at INTEGER,
                        ended_at INTEGER,
                        duration_ms INTEGER,
                        exit_code INTEGER,
                        session_id TEXT,
                        cost_usd REAL,
                        num_turns INTEGER,
                        input_tokens INTEGER,
                        output_tokens INTEGER,
                        cache_read_input_tokens INTEGER,
                        cache_creation_input_tokens INTEGER,
                        permission_denials INTEGER,
                        pull_request TEXT,
                        runner TEXT,
                        workspace_source TEXT,
                        workspace_ms INTEGER,
                        deliveries INTEGER
                    );
                    -- Retention sweeps, and usage reports for the part of a day after `since`, select by creation
                    -- time.
                    CREATE INDEX runs_created_at ON runs(created_at);
                    -- Listing newest first (by id, a ULID) under one filter walks one of these backwards;
                    -- the status index also finds the runs left queued or running at start-up.
                    CREATE INDEX runs_status ON runs(status, id);
                    CREATE INDEX runs_kind ON runs(kind, id);
                    CREATE INDEX runs_repo ON runs(repo, id);
                    -- The daily budget sums the cost of runs that ended since midnight, from the index alone.
                    CREATE INDEX runs_ended_at ON runs(ended_at, cost_usd);

                    -- Usage sums per UTC day (of created_at), kind, repo and model ('' for none), kept by the
                    -- triggers below in the transaction of every write, so that a usage report reads a few rows
                    -- per day instead of every run. Costs are in millionths of a dollar so that adding and taking
                    -- away a run's cost is exact.
                    CREATE TABLE usage_days (
                        day INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        repo TEXT NOT NULL,
                        model TEXT NOT NULL,
                        runs INTEGER NOT NULL,
                        cost_micro_usd INTEGER NOT NULL,
                        input_tokens INTEGER NOT NULL,
                        output_tokens INTEGER NOT NULL,
                        num_turns INTEGER NOT NULL,
                        PRIMARY KEY (day, kind, repo, model)
                    ) WITHOUT ROWID;
                    CREATE TRIGGER runs_usage_insert AFTER INSERT ON runs BEGIN
                        INSERT INTO usage_days VALUES (
                            NEW.created_at / 86400000, NEW.kind, COALESCE(NEW.repo, ''), COALESCE(NEW.model, ''),
                            1, CAST(ROUND(COALESCE(NEW.cost_usd, 0) * 1000000) AS INTEGER),
                            COALESCE(NEW.input_tokens, 0), COALESCE(NEW.output_tokens, 0), COALESCE(NEW.num_turns, 0))
                        ON CONFLICT (day, kind, repo, model) DO UPDATE SET
                            runs = runs + 1, cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd,
                            input_tokens = input_tokens + excluded.input_tokens,
                            output_tokens = output_tokens + excluded.output_tokens,
                            num_turns = num_turns + excluded.num_turns;
                    END;
                    -- The new values are added before the old ones are taken away, so that a row whose key
                    -- stays the same never drops to zero runs on the way.
                    CREATE TRIGGER runs_usage_update
                    AFTER UPDATE OF created_at, kind, repo, model, cost_usd, input_tokens, output_tokens, num_turns
                    ON runs BEGIN
                        INSERT INTO usage_days VALUES (
                            NEW.created_at / 86400000, NEW.kind, COALESCE(NEW.repo, ''), COALESCE(NEW.model, ''),
                            1, CAST(ROUND(COALESCE(NEW.cost_usd, 0) * 1000000) AS INTEGER),
                            COALESCE(NEW.input_tokens, 0), COALESCE(NEW.output_tokens, 0), COALESCE(NEW.num_turns, 0))
                        ON CONFLICT (day, kind, repo, model) DO UPDATE SET
                            runs = runs + 1, cost_micro_usd = cost_micro_usd + excluded.cost_micro_usd,
                            input_tokens = input_tokens + excluded.input_tokens,
                            output_tokens = output_tokens + excluded.output_tokens,
                            num_turns = num_turns + excluded.num_turns;
                        UPDATE usage_days SET
                            runs = runs - 1,
                            cost_micro_usd = cost_micro_usd
                                - CAST(ROUND(COALESCE(OLD.cost_usd, 0) * 1000000) AS INTEGER),
                            input_tokens = input_tokens - COALESCE(OLD.input_tokens, 0),
                            output_tokens = output_tokens - COALESCE(OLD.output_tokens, 0),
                            num_turns = num_turns - COALESCE(OLD.num_turns, 0)
                        WHERE day = OLD.created_at / 86400000 AND kind = OLD.kind
                            AND repo = COALESCE(OLD.repo, '') AND model = COALESCE(OLD.model, '');
                        DELETE FROM usage_days
                        WHERE day = OLD.created_at / 86400000 AND kind = OLD.kind
                            AND repo = COALESCE(OLD.repo, '') AND model = COALESCE(OLD.model, '') AND runs = 0;
                    END;
                    CREATE TRIGGER runs_usage_delete AFTER DELETE ON runs BEGIN
                        UPDATE usage_days SET
                            runs = runs - 1,
                            cost_micro_usd = cost_micro_usd
                                - CAST(ROUND(COALESCE(OLD.cost_usd, 0) * 1000000) AS INTEGER),
                            input_tokens = input_tokens - COALESCE(OLD.input_tokens, 0),
                            output_tokens = output_tokens - COALESCE(OLD.output_tokens, 0),
                            num_turns = num_turns - COALESCE(OLD.num_turns, 0)
                        WHERE day = OLD.created_at / 86400000 AND kind = OLD.kind
                            AND repo = COALESCE(OLD.repo, '') AND model = COALESCE(OLD.model, '');
                        DELETE FROM usage_days
                        WHERE day = OLD.created_at / 86400000 AND kind = OLD.kind
                            AND repo = COALESCE(OLD.repo, '') AND model = COALESCE(OLD.model, '') AND runs = 0;
                    END;
                    """)
        }
        return migrator
    }
}
