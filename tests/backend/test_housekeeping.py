"""Housekeeping: old chunk logs and kept answers are forgotten, recent ones kept for replay."""

import asyncio
from pathlib import Path

from backend.llm import ProviderRegistry
from backend.store import Store
from tests.seed import new_agent


def test_prune_forgets_only_chunk_logs_of_runs_ended_in_the_range(tmp_path: Path) -> None:
    async def scenario() -> dict[str, tuple[int, str | None]]:
        store = Store(tmp_path / "h.db")
        await store.open()
        try:
            agent = await new_agent(store)
            conversation = await store.conversations.create(agent["id"], None)
            ended = {
                "run-old": "2026-01-01T00:00:00+00:00",
                "run-mid": "2026-06-01T00:00:00+00:00",
                "run-new": "2026-11-01T00:00:00+00:00",
            }
            async with store.db.transaction() as tx:
                for run_id in ended:
                    await store.runs.create(tx, run_id, conversation["id"], agent["id"])
                    await store.runs.finish(
                        tx,
                        run_id,
                        status="completed",
                        stop_reason="end_turn",
                        error=None,
                        usage={},
                        chunks=[{"seq_id": 1}, {"seq_id": 2}],
                        answer=f'{{"of":"{run_id}"}}',
                    )
                for run_id, when in ended.items():
                    await tx.execute(
                        "UPDATE runs SET completed_at = ? WHERE id = ?", (when, run_id)
                    )
            await store.runs.prune_chunks("2026-03-01", "2026-10-01")
            return {
                run_id: (
                    len(await store.runs.chunks_after(run_id, 0)),
                    (await store.runs.get(run_id))["answer"],
                )
                for run_id in ended
            }
        finally:
            await store.close()

    assert asyncio.run(scenario()) == {
        "run-old": (2, '{"of":"run-old"}'),
        "run-mid": (0, None),
        "run-new": (2, '{"of":"run-new"}'),
    }


def test_builtin_pacing_settings_reach_the_provider() -> None:
    registry = ProviderRegistry.from_config(
        {"providers": {"builtin": {"delta_delay": 0.25, "words_per_delta": 5}}}, {}
    )
    provider = registry.resolve("builtin/echo").provider
    assert provider.delta_delay == 0.25 and provider.words_per_delta == 5
