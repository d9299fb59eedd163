"""The SQLite schema and its migrations, versioned with ``PRAGMA user_version``.

Messages carry an ``ord`` sort key rather than relying on insertion order: a compaction summary
is stored after the kept turns but must list right after the messages it replaced. Ordinary
messages take ``ord`` values on a stride of ``ORD_STRIDE``; a summary takes the ``ord`` of the
last message it replaced plus one, which sorts it before the next kept message.
"""

ORD_STRIDE = 1 << 16

MIGRATIONS: list[str] = [
    # 1: the whole first schema, including runs, the chunk log and the conversation lock lease.
    """
    CREATE TABLE agents (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        model TEXT NOT NULL,
        embedding TEXT,
        system TEXT NOT NULL,
        agent_type TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX agents_name ON agents(name);

    CREATE TABLE blocks (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        value TEXT NOT NULL,
        char_limit INTEGER NOT NULL,
        description TEXT,
        UNIQUE (agent_id, label)
    );

    CREATE TABLE conversations (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        summary TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_message_at TEXT
    );
    CREATE INDEX conversations_agent ON conversations(agent_id, pos);

    CREATE TABLE messages (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        message_type TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        extra TEXT,
        run_id TEXT,
        otid TEXT,
        in_context INTEGER NOT NULL DEFAULT 1,
        is_err INTEGER,
        created_at TEXT NOT NULL
    );
    CREATE UNIQUE INDEX messages_order ON messages(conversation_id, ord);
    CREATE INDEX messages_context ON messages(conversation_id, ord) WHERE in_context = 1;
    CREATE INDEX messages_run ON messages(run_id);

    CREATE TABLE runs (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        agent_id TEXT NOT NULL,
        status TEXT NOT NULL,
        stop_reason TEXT,
        error TEXT,
        usage TEXT,
        created_at TEXT NOT NULL,
        completed_at TEXT
    );
    CREATE INDEX runs_conversation ON runs(conversation_id, pos);
    CREATE INDEX runs_status ON runs(status);

    CREATE TABLE run_chunks (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq_id INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq_id)
    ) WITHOUT ROWID;

    CREATE TABLE conversation_locks (
        conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
        holder TEXT NOT NULL,
        run_id TEXT,
        expires_at REAL NOT NULL
    );
    """,
    # 2: pruning old chunk logs looks runs up by when they ended.
    """
    CREATE INDEX runs_completed ON runs(completed_at);
    """,
    # 3: a server process asks the one running a run to cancel it.
    """
    ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
    """,
]
