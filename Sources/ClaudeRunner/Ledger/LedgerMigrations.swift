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
                    -- Retention sweeps and usage reports select by creation time.
                    CREATE INDEX runs_created_at ON runs(created_at);
                    -- Listing newest first (by id, a ULID) under one filter walks one of these backwards;
                    -- the status index also finds the runs left queued or running at start-up.
                    CREATE INDEX runs_status ON runs(status, id);
                    CREATE INDEX runs_kind ON runs(kind, id);
                    CREATE INDEX runs_repo ON runs(repo, id);
                    -- The daily budget sums the cost of runs that ended since midnight, from the index alone.
                    CREATE INDEX runs_ended_at ON runs(ended_at, cost_usd);
                    """)
        }
        return migrator
    }
}
