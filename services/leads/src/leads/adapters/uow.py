"""The leads unit of work: the kit's transaction (outbox, inbox) plus the leads, alerts and copy-settings
repositories."""

from __future__ import annotations

from leads.adapters.alerts import AlertRepository
from leads.adapters.copy_settings import CopySettingsRepository
from leads.adapters.repository import LeadRepository
from servicekit.messaging.uow import UnitOfWork


class LeadsUnitOfWork(UnitOfWork):
    leads: LeadRepository
    alerts: AlertRepository
    copy: CopySettingsRepository

    async def _open(self) -> None:
        self.leads = LeadRepository(self.session)
        self.alerts = AlertRepository(self.session)
        self.copy = CopySettingsRepository(self.session)

    async def commit(self) -> None:
        await self.leads.write_for_commit()
        await super().commit()
