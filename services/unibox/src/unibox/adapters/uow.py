"""The unibox unit of work: one transaction with the projection, the webhook log, reply intents, opens, the
stored PlusVibe credentials and the webhook secrets."""

from __future__ import annotations

from plusvibe.credential_store import CredentialStore
from servicekit.messaging.uow import UnitOfWork
from unibox.adapters.orm import plusvibe_credentials
from unibox.adapters.repositories import LeadProjection, OpensSeen, ReplyIntents, WebhookLog, WebhookSecrets


class UniboxUnitOfWork(UnitOfWork):
    leads: LeadProjection
    webhooks: WebhookLog
    replies: ReplyIntents
    opens: OpensSeen
    plusvibe_credentials: CredentialStore
    webhook_secrets: WebhookSecrets

    async def _open(self) -> None:
        self.leads = LeadProjection(self.session)
        self.webhooks = WebhookLog(self.session)
        self.replies = ReplyIntents(self.session)
        self.opens = OpensSeen(self.session)
        self.plusvibe_credentials = CredentialStore(self.session, plusvibe_credentials)
        self.webhook_secrets = WebhookSecrets(self.session)
