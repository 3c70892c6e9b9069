"""Lead row → the LeadSnapshot contract carried by LeadUpserted."""

from __future__ import annotations

from contracts.common import Contact, LeadSnapshot, LinkedAudit, OutboundWriteback, PlusVibeLeadData
from contracts.status import LeadStatus
from leads.adapters.orm import AuditRunRow, LeadRow


def lead_snapshot(lead: LeadRow, run: AuditRunRow | None) -> LeadSnapshot:
    audit = None
    if lead.audit_run_id is not None:
        audit = LinkedAudit(
            audit_run_id=lead.audit_run_id,
            status=run.status if run else "queued",
            grade=run.grade if run else None,
            score=run.score if run else None,
            top_issue=run.top_issue if run else None,
            summary=run.summary if run else None,
            report_url=run.report_url if run else None,
        )
    writeback = None
    if lead.wb_variables is not None and lead.wb_audit_run_id is not None and lead.wb_applied_at is not None:
        writeback = OutboundWriteback(
            audit_run_id=lead.wb_audit_run_id,
            variables=lead.wb_variables,
            delivered=bool(lead.wb_delivered),
            applied_at=lead.wb_applied_at,
        )
    plusvibe = None
    if writeback or lead.pv_label or lead.pv_reply_sentiment or lead.pv_last_email_subject:
        plusvibe = PlusVibeLeadData(
            label=lead.pv_label,
            reply_sentiment=lead.pv_reply_sentiment,
            last_email_subject=lead.pv_last_email_subject,
            last_outbound_writeback=writeback,
        )
    return LeadSnapshot(
        lead_id=lead.id,
        version=lead.version,
        company_name=lead.company_name,
        domain=lead.domain,
        contact=Contact(first_name=lead.first_name, last_name=lead.last_name, email=lead.email, title=lead.title,
                        phone=lead.phone),
        notes=lead.notes,
        status=LeadStatus(lead.status),
        campaign_id=lead.campaign_id,
        audit=audit,
        plusvibe=plusvibe,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
    )
