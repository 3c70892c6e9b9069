"""The unibox unit of work: one transaction with the projection, the webhook log, reply intents and opens."""

from __future__ import annotations

from servicekit.messaging.uow import UnitOfWork
from unibox.adapters.repositories import LeadProjection, OpensSeen, ReplyIntents, WebhookLog


class UniboxUnitOfWork(UnitOfWork):
    leads: LeadProjection
    webhooks: WebhookLog
    replies: ReplyIntents
    opens: OpensSeen

    async def _open(self) -> None:
        self.leads = LeadProjection(self.session)
        self.webhooks = WebhookLog(self.session)
        self.replies = ReplyIntents(self.session)
        self.opens = OpensSeen(self.session)
