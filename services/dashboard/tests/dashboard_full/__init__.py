"""The dashboard in a real browser against the whole system started by the launcher (`outreach_local`)."""
