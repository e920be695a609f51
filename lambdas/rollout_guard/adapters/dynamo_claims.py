"""The claims adapter: Powertools' Idempotency utility over the DynamoDB state table.

Powertools expresses a per-job claim directly: `idempotent_function` keyed by the claim (job, level) writes an
INPROGRESS item with a conditional put, so a second caller gets `IdempotencyAlreadyInProgressError` while the first
acts, and the first caller's answer once it is done; an error of the action deletes the item (a retry can claim
again); the Lambda context bounds an INPROGRESS item to its invocation's remaining time.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from rollout_guard.halts.claims import ACTED, DONE_ELSEWHERE, HELD_ELSEWHERE, Claimed, claim_of
from rollout_guard.observability import Metric
from rollout_guard.schema import CLAIM, TABLE_KEY, TABLE_TTL
from rollout_guard.telemetry import count, log


class DynamoClaims:
    def __init__(self, table: str, client: Any):
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        store = DynamoDBPersistenceLayer(table_name=table, key_attr=TABLE_KEY, expiry_attr=TABLE_TTL,
                                         boto3_client=client)
        self.table = table
        self._config = IdempotencyConfig(expires_after_seconds=CLAIM.ttl_s)
        self._claimed = idempotent_function(data_keyword_argument="claim", persistence_store=store,
                                            config=self._config, key_prefix=CLAIM.prefix)(_run)

    def begin(self, context: Any) -> None:
        self._config.register_lambda_context(context)

    def once(self, job_id: str, level: str, act: Callable[[], Any]) -> Claimed:
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        token, ran = uuid.uuid4().hex, []

        def acting() -> Any:
            ran.append(True)
            try:
                return act()
            except Exception as error:  # told apart from the store's own errors below
                raise _ActionFailed(error) from error

        try:
            answer = self._claimed(claim=claim_of(job_id, level), act=acting, token=token)
        except IdempotencyAlreadyInProgressError:
            return Claimed(HELD_ELSEWHERE)
        except Exception as error:
            failed = _action_failure(error)
            if failed is not None:  # the action's own error, the claim released: the caller reports it
                raise failed.error from None
            # The store failed (unreachable, throttled, denied): the halt goes on without the claim.
            return self._without_claim(job_id, level, act, error, ran)
        if answer.get("by") != token:
            return Claimed(DONE_ELSEWHERE)
        return Claimed(ACTED)

    def _without_claim(self, job_id: str, level: str, act: Callable[[], Any], error: Exception,
                       ran: list[bool]) -> Claimed:
        count(Metric.CLAIM_STORE_UNAVAILABLE)
        log("error", "Claim store unavailable: acting without the claim", table=self.table, job_id=job_id,
            claim_level=level, error=f"{type(error).__name__}: {error}")
        if ran:  # the action ran and succeeded; only recording it failed
            return Claimed(ACTED, "acted; the claim store failed to record it")
        act()
        return Claimed(ACTED, "acted without the claim: the claim store was unavailable")


class _ActionFailed(Exception):
    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def _action_failure(error: BaseException | None) -> _ActionFailed | None:
    """The action's failure, wherever Powertools put it in the chain of exceptions."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, _ActionFailed):
            return error
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


def _run(claim: dict[str, str], act: Callable[[], Any], token: str) -> dict[str, Any]:
    """The claimed action; its answer (who acted) is what a later caller of the same claim gets back."""
    act()
    return {"by": token}
