"""The SQLite schema and its migrations, versioned with ``PRAGMA user_version``.

Messages carry an ``ord`` sort key rather than relying on insertion order: a compaction summary
is stored after the kept turns but must list right after the messages it replaced. Ordinary
messages take ``ord`` values on a stride of ``ORD_STRIDE``; a summary takes the ``ord`` of the
last message it replaced plus one, which sorts it before the next kept message.

Since migration 11 a message is stored once (``messages``: its text and details, under an id
unique in the database) and ``conversation_messages`` says which conversations list it, at which
``ord``: a fork adds only such rows. A conversation's context is a range of that order: a
message is in context when its row's ``in_context`` is 1 and its ``ord`` is at least the
conversation's ``context_from``, or it is the conversation's system message (its first row).
Compaction moves ``context_from``; ``in_context = 0`` drops single messages (a failed turn's).

Since migration 12 there is no index of the listing rows by message: a fork lists its source's
messages at the same ``ord``, so the conversations listing a message are among those of its
``lineage`` (the fork tree it was first sent in), each at the message's ``origin_ord``.

A message goes when the last row listing it goes (a trigger). Since migration 15 the trigger
asks the message's origin conversation first, and knows without asking that a conversation's
own message at an ``ord`` no fork ever copied from it (``forked_up_to``) is listed nowhere else.
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
    # 4: an agent's description and default compaction settings; each agent's default
    # conversation; message ids unique per conversation (a fork lists
    # its source's messages under the same ids); sends found again by their otid; full-text
    # search. The text index holds one row per message id: the row with ``fts = 1`` (the first
    # stored; a fork's copies have 0). Deleting that row hands the index on to another copy.
    """
    ALTER TABLE agents ADD COLUMN description TEXT;
    ALTER TABLE agents ADD COLUMN compaction_settings TEXT;
    CREATE INDEX runs_agent ON runs(agent_id, pos);
    ALTER TABLE conversations ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX conversations_default ON conversations(agent_id) WHERE is_default = 1;

    CREATE TABLE messages_v4 (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
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
        created_at TEXT NOT NULL,
        fts INTEGER NOT NULL DEFAULT 1,
        UNIQUE (conversation_id, id)
    );
    INSERT INTO messages_v4 (pos, id, conversation_id, ord, message_type, role, content, extra,
        run_id, otid, in_context, is_err, created_at)
        SELECT pos, id, conversation_id, ord, message_type, role, content, extra, run_id, otid,
            in_context, is_err, created_at FROM messages;
    DROP TABLE messages;
    ALTER TABLE messages_v4 RENAME TO messages;
    CREATE UNIQUE INDEX messages_order ON messages(conversation_id, ord);
    CREATE INDEX messages_context ON messages(conversation_id, ord) WHERE in_context = 1;
    CREATE INDEX messages_run ON messages(run_id);
    CREATE INDEX messages_id ON messages(id);
    CREATE INDEX messages_otid ON messages(conversation_id, otid) WHERE otid IS NOT NULL;

    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='pos', tokenize='unicode61 remove_diacritics 2'
    );
    INSERT INTO messages_fts (rowid, content)
        SELECT pos, content FROM messages WHERE message_type <> 'system_message';
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
        WHEN new.fts = 1 AND new.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.pos, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN old.fts = 1 AND old.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.pos, old.content);
        UPDATE messages SET fts = 1 WHERE pos = (SELECT MIN(pos) FROM messages WHERE id = old.id);
    END;
    CREATE TRIGGER messages_fts_handover AFTER UPDATE OF fts ON messages
        WHEN new.fts = 1 AND old.fts = 0 AND new.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.pos, new.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
        WHEN old.fts = 1 AND new.fts = 1 AND new.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.pos, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.pos, new.content);
    END;
    """,
    # 5: tools an agent may call, changes of memory blocks, and tool calls waiting for an answer.
    """
    CREATE TABLE tools (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        json_schema TEXT NOT NULL,
        tool_type TEXT NOT NULL,
        created_at TEXT NOT NULL
    );

    CREATE TABLE agent_tools (
        agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        tool_id TEXT NOT NULL REFERENCES tools(id) ON DELETE CASCADE,
        requires_approval INTEGER NOT NULL DEFAULT 0,
        pos INTEGER NOT NULL,
        PRIMARY KEY (agent_id, tool_id)
    ) WITHOUT ROWID;

    ALTER TABLE blocks ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE block_history (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        block_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        actor TEXT NOT NULL,
        agent_id TEXT,
        tool_name TEXT,
        run_id TEXT,
        before TEXT,
        after TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (block_id, version)
    );

    -- The block_history position up to which a conversation's system message shows memory.
    ALTER TABLE conversations ADD COLUMN memory_seen INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE tool_approvals (
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        tool_call_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        name TEXT NOT NULL,
        arguments TEXT NOT NULL,
        client INTEGER NOT NULL,
        state TEXT NOT NULL,
        pos INTEGER NOT NULL,
        PRIMARY KEY (conversation_id, tool_call_id)
    ) WITHOUT ROWID;
    CREATE INDEX tool_approvals_pending ON tool_approvals(conversation_id) WHERE state = 'pending';
    """,
    # 6: a conversation's in-context ids in order, from an index alone (GET conversation lists
    # them all: 100,000 table lookups took about 200 ms); read with INDEXED BY.
    """
    CREATE INDEX messages_context_ids ON messages(conversation_id, ord, id) WHERE in_context = 1;
    """,
    # 7: a fork's copies point at the row that carries their message's text index (``src``)
    # instead of being found by id: the id index then holds only those carriers, and a fork of
    # 10,000 messages no longer pays 10,000 random inserts into it. messages_context_ids (6)
    # serves every use of messages_context, which each copied row paid for as well.
    """
    DROP INDEX messages_context;
    ALTER TABLE messages ADD COLUMN src INTEGER;
    UPDATE messages SET src = (
        SELECT MIN(o.pos) FROM messages o WHERE o.id = messages.id AND o.fts = 1
    ) WHERE fts = 0;
    DROP INDEX messages_id;
    CREATE INDEX messages_id ON messages(id) WHERE fts = 1;
    CREATE INDEX messages_src ON messages(src) WHERE src IS NOT NULL;
    DROP TRIGGER messages_fts_delete;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN old.fts = 1 AND old.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.pos, old.content);
    END;
    CREATE TRIGGER messages_carrier_delete AFTER DELETE ON messages WHEN old.fts = 1
    BEGIN
        UPDATE messages SET fts = 1, src = NULL
            WHERE pos = (SELECT MIN(pos) FROM messages WHERE src = old.pos);
        UPDATE messages SET src = (SELECT pos FROM messages WHERE id = old.id AND fts = 1)
            WHERE src = old.pos;
    END;
    """,
    # 8: blocks stand on their own and may be shared: agent_blocks says which agents have
    # which block (a block's label is unique per agent, checked when attaching).
    """
    CREATE TABLE blocks_v8 (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        value TEXT NOT NULL,
        char_limit INTEGER NOT NULL,
        description TEXT,
        read_only INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO blocks_v8 (pos, id, label, value, char_limit, description, read_only)
        SELECT pos, id, label, value, char_limit, description, read_only FROM blocks;
    CREATE TABLE agent_blocks (
        agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
        block_id TEXT NOT NULL REFERENCES blocks_v8(id) ON DELETE CASCADE,
        pos INTEGER NOT NULL,
        PRIMARY KEY (agent_id, block_id)
    ) WITHOUT ROWID;
    INSERT INTO agent_blocks (agent_id, block_id, pos) SELECT agent_id, id, pos FROM blocks;
    DROP TABLE blocks;
    ALTER TABLE blocks_v8 RENAME TO blocks;
    CREATE INDEX agent_blocks_block ON agent_blocks(block_id);
    CREATE INDEX blocks_label ON blocks(label);
    """,
    # 9: an agent's blocks and tools in the order it was given them, from an index alone (the
    # agent answers list them: a sort per agent cost more than the rest of its blocks' JSON).
    """
    CREATE INDEX agent_blocks_order ON agent_blocks(agent_id, pos);
    CREATE INDEX agent_tools_order ON agent_tools(agent_id, pos, requires_approval);
    """,
    # 10: a number that changes with every change of a conversation's in-context messages other
    # than an append (compaction, a failed input taken out, reset, a recompiled system
    # message): a server process keeps a conversation's prompt between turns while it holds.
    """
    ALTER TABLE conversations ADD COLUMN context_rev INTEGER NOT NULL DEFAULT 0;
    """,
    # 11: messages stored once, listed by conversations (see the module's docstring). A fork's
    # copies become rows of conversation_messages pointing at their carrier's text; the search
    # index keeps its rows (a body keeps its carrier's pos). A body goes when no conversation
    # lists it any more, however its last listing row was deleted. Listing rows name their
    # conversation by its integer ``pos``: half the bytes to write per row of a fork.
    """
    ALTER TABLE conversations ADD COLUMN context_from INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE conversation_messages (
        conversation_pos INTEGER NOT NULL REFERENCES conversations(pos) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        message_pos INTEGER NOT NULL,
        in_context INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (conversation_pos, ord)
    ) WITHOUT ROWID;
    INSERT INTO conversation_messages (conversation_pos, ord, message_id, message_pos, in_context)
        SELECT c.pos, m.ord, m.id,
            CASE WHEN m.fts = 1 THEN m.pos ELSE COALESCE(m.src,
                (SELECT MIN(o.pos) FROM messages o WHERE o.id = m.id AND o.fts = 1)) END,
            m.in_context
        FROM messages m JOIN conversations c ON c.id = m.conversation_id;
    CREATE INDEX conversation_messages_pos ON conversation_messages(message_pos);

    CREATE TABLE messages_v9 (
        pos INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        origin_id TEXT NOT NULL,
        message_type TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        extra TEXT,
        run_id TEXT,
        otid TEXT,
        is_err INTEGER,
        created_at TEXT NOT NULL
    );
    INSERT INTO messages_v9 (pos, id, origin_id, message_type, role, content, extra, run_id,
        otid, is_err, created_at)
        SELECT pos, id, conversation_id, message_type, role, content, extra, run_id, otid,
            is_err, created_at FROM messages WHERE fts = 1;
    DROP TABLE messages;
    ALTER TABLE messages_v9 RENAME TO messages;
    CREATE INDEX messages_run ON messages(run_id);
    CREATE INDEX messages_otid ON messages(origin_id, otid) WHERE otid IS NOT NULL;

    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
        WHEN new.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (rowid, content) VALUES (new.pos, new.content);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
        WHEN old.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.pos, old.content);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
        WHEN new.message_type <> 'system_message'
    BEGIN
        INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.pos, old.content);
        INSERT INTO messages_fts (rowid, content) VALUES (new.pos, new.content);
    END;
    CREATE TRIGGER conversation_messages_release AFTER DELETE ON conversation_messages
        WHEN NOT EXISTS (SELECT 1 FROM conversation_messages WHERE message_pos = old.message_pos)
    BEGIN
        DELETE FROM messages WHERE pos = old.message_pos;
    END;
    """,
    # 12: the conversations that list a message are found without an index by message (a fork
    # of 10,000 messages spent more on its 10,000 scattered entries than on its rows). Every
    # conversation has a ``lineage``: the pos of the conversation at the root of its forks
    # (itself if it is no fork); a message keeps its lineage and the ``ord`` it was first listed
    # at (``origin_ord``). Forks list messages at their source's ord, so the conversations that
    # list a message are among those of its lineage, each at the message's origin_ord: a lookup
    # by key per conversation of the lineage. Lineages of older databases are the groups of
    # conversations that share messages.
    """
    ALTER TABLE conversations ADD COLUMN lineage INTEGER;
    ALTER TABLE messages ADD COLUMN lineage INTEGER;
    ALTER TABLE messages ADD COLUMN origin_ord INTEGER;

    -- Each conversation listing a message shares it with the first one listing it, both ways.
    CREATE TEMP TABLE shares AS SELECT DISTINCT a, b FROM (
        SELECT MIN(conversation_pos) OVER (PARTITION BY message_pos) AS a,
            conversation_pos AS b FROM conversation_messages
    ) WHERE a <> b;
    INSERT INTO temp.shares SELECT b, a FROM temp.shares;
    CREATE INDEX temp.shares_a ON shares(a);
    CREATE TEMP TABLE lineages AS WITH RECURSIVE reach(c, r) AS (
            SELECT pos, pos FROM conversations
            UNION SELECT shares.b, reach.r FROM reach JOIN shares ON shares.a = reach.c
        ) SELECT c, MIN(r) AS r FROM reach GROUP BY c;
    CREATE INDEX temp.lineages_c ON lineages(c);
    UPDATE conversations SET lineage = (SELECT r FROM lineages WHERE c = conversations.pos);
    DROP TABLE temp.shares;
    DROP TABLE temp.lineages;
    UPDATE messages SET (lineage, origin_ord) = (
        SELECT c.lineage, cm.ord FROM conversation_messages cm
        JOIN conversations c ON c.pos = cm.conversation_pos WHERE cm.message_pos = messages.pos
        LIMIT 1
    );
    CREATE INDEX conversations_lineage ON conversations(lineage);
    CREATE TRIGGER conversations_lineage AFTER INSERT ON conversations WHEN new.lineage IS NULL
    BEGIN
        UPDATE conversations SET lineage = new.pos WHERE pos = new.pos;
    END;

    -- A trigger, not a foreign key, takes a conversation's rows with it: a key checked for
    -- each of a fork's rows cost a sixth of its time.
    CREATE TABLE conversation_messages_v12 (
        conversation_pos INTEGER NOT NULL,
        ord INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        message_pos INTEGER NOT NULL,
        in_context INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (conversation_pos, ord)
    ) WITHOUT ROWID;
    INSERT INTO conversation_messages_v12 (conversation_pos, ord, message_id, message_pos,
        in_context)
        SELECT conversation_pos, ord, message_id, message_pos, in_context
        FROM conversation_messages;
    DROP TABLE conversation_messages;
    ALTER TABLE conversation_messages_v12 RENAME TO conversation_messages;
    CREATE TRIGGER conversations_listing_delete AFTER DELETE ON conversations
    BEGIN
        DELETE FROM conversation_messages WHERE conversation_pos = old.pos;
    END;
    CREATE TRIGGER conversation_messages_release AFTER DELETE ON conversation_messages
        WHEN NOT EXISTS (SELECT 1 FROM messages m JOIN conversations c ON c.lineage = m.lineage
            JOIN conversation_messages cm ON cm.conversation_pos = c.pos AND cm.ord = old.ord
            WHERE m.pos = old.message_pos AND cm.message_pos = old.message_pos)
    BEGIN
        DELETE FROM messages WHERE pos = old.message_pos;
    END;
    """,
    # 13: each message keeps its API JSON (API.md 2) as it is listed in context, so that a page
    # is a concatenation of stored JSON rather than built on every read. ``wire`` says how it
    # is written (a virtual column: computed when read, stored nowhere); ``message_json`` keeps
    # a copy per message, written by triggers with every write of a column it is made of, so
    # an edit (of its text, of is_err) cannot leave it stale. The copy is a table of its own: in
    # ``messages`` it made each row several times longer, and a scan of a long history (the
    # prompt, compaction) two to three times slower. ``store.messages`` splices
    # ``"in_context":false`` in where a listing says so.
    """
    ALTER TABLE messages ADD COLUMN wire TEXT GENERATED ALWAYS AS (
        '{"id":' || json_quote(id)
        || ',"date":' || json_quote(created_at)
        || ',"message_type":' || json_quote(message_type)
        || ',"role":' || json_quote(role)
        || ',"run_id":' || json_quote(run_id)
        || ',"otid":' || json_quote(otid)
        || ',"seq_id":null,"in_context":true'
        || ',"is_err":' || CASE is_err WHEN 1 THEN 'true' WHEN 0 THEN 'false' ELSE 'null' END
        || CASE
            WHEN message_type = 'reasoning_message' THEN ',"reasoning":' || json_quote(content)
            WHEN message_type IN ('tool_call_message', 'approval_request_message') THEN
                ',"tool_call":' || coalesce(extra, '{}')
                || ',"tool_calls":[' || coalesce(extra, '{}') || ']'
            WHEN message_type = 'approval_response_message' THEN
                CASE WHEN extra IS NULL OR extra = '{}' THEN ''
                    ELSE ',' || substr(extra, 2, length(extra) - 2) END
            WHEN message_type = 'tool_return_message' THEN
                ',"tool_return":' || json_quote(content)
                || ',"status":' || coalesce(extra -> '$.status', '"success"')
                || ',"tool_call_id":' || coalesce(extra -> '$.tool_call_id', 'null')
                || ',"name":' || coalesce(extra -> '$.name', 'null')
                || ',"stdout":' || coalesce(extra -> '$.stdout', 'null')
                || ',"stderr":' || coalesce(extra -> '$.stderr', 'null')
                || ',"tool_returns":[{"type":"tool"'
                || ',"tool_call_id":' || coalesce(extra -> '$.tool_call_id', 'null')
                || ',"status":' || coalesce(extra -> '$.status', '"success"')
                || ',"tool_return":' || json_quote(content)
                || ',"stdout":' || coalesce(extra -> '$.stdout', 'null')
                || ',"stderr":' || coalesce(extra -> '$.stderr', 'null') || '}]'
            WHEN message_type = 'summary_message' THEN
                ',"summary":' || json_quote(content) || ',"content":' || json_quote(content)
                || CASE WHEN extra IS NULL OR extra = '{}' THEN ''
                    ELSE ',' || substr(extra, 2, length(extra) - 2) END
            ELSE ',"content":' || json_quote(content)
        END || '}'
    ) VIRTUAL;
    CREATE TABLE message_json (pos INTEGER PRIMARY KEY, json TEXT NOT NULL);
    INSERT INTO message_json (pos, json) SELECT pos, wire FROM messages;
    CREATE TRIGGER message_json_insert AFTER INSERT ON messages
    BEGIN
        INSERT INTO message_json (pos, json) VALUES (new.pos, new.wire);
    END;
    CREATE TRIGGER message_json_update AFTER UPDATE OF id, created_at, message_type, role,
        run_id, otid, is_err, content, extra ON messages
    BEGIN
        UPDATE message_json SET json = new.wire WHERE pos = new.pos;
    END;
    CREATE TRIGGER message_json_delete AFTER DELETE ON messages
    BEGIN
        DELETE FROM message_json WHERE pos = old.pos;
    END;
    """,
    # 14: an ended run keeps the JSON a non-streaming send answered with, for as long as it
    # keeps its chunk log: a retried send (API.md 9, ``otid``) answers with it as it stands.
    """
    ALTER TABLE runs ADD COLUMN answer TEXT;
    """,
    # 15: a conversation's rows going (a delete, a reset) free the messages no other conversation
    # lists, without a look through every conversation of their lineage for each: a message is
    # kept when its origin conversation still lists it (one lookup); a message that its origin
    # is losing, at an ``ord`` no fork ever copied from it (``forked_up_to``: the highest ord a
    # fork copied from the conversation), is listed nowhere else and goes at once. Only what is
    # left is looked for in the lineage. Forks of older databases may have copied anything
    # their source listed then.
    """
    ALTER TABLE conversations ADD COLUMN forked_up_to INTEGER;
    UPDATE conversations SET forked_up_to = (SELECT max(ord) FROM conversation_messages
        WHERE conversation_pos = conversations.pos)
        WHERE lineage IN (SELECT lineage FROM conversations GROUP BY lineage HAVING count(*) > 1);
    DROP TRIGGER conversation_messages_release;
    CREATE TRIGGER conversation_messages_release AFTER DELETE ON conversation_messages
        WHEN NOT EXISTS (SELECT 1 FROM messages m JOIN conversations o ON o.id = m.origin_id
            JOIN conversation_messages cm ON cm.conversation_pos = o.pos AND cm.ord = old.ord
            WHERE m.pos = old.message_pos AND cm.message_pos = old.message_pos)
        AND (EXISTS (SELECT 1 FROM messages m JOIN conversations o ON o.id = m.origin_id
                WHERE m.pos = old.message_pos AND o.pos = old.conversation_pos
                AND old.ord > coalesce(o.forked_up_to, -1))
            OR NOT EXISTS (SELECT 1 FROM messages m JOIN conversations c ON c.lineage = m.lineage
                JOIN conversation_messages cm ON cm.conversation_pos = c.pos AND cm.ord = old.ord
                WHERE m.pos = old.message_pos AND cm.message_pos = old.message_pos))
    BEGIN
        DELETE FROM messages WHERE pos = old.message_pos;
    END;
    """,
]
