"""Demo leads: one per demo website plus the edge cases of the help page (no domain, `unknown` domain)."""

from __future__ import annotations

import httpx

from outreach_local.demo_sites import SITES

CONTACTS = {
    "northwind-bakery.test": ("Nora", "Lind", "nora@northwind-bakery.test", "Owner"),
    "acme-plumbing.test": ("Arjun", "Mehta", "arjun@acme-plumbing.test", "Director"),
    "bluebird-dental.test": ("Bea", "Okafor", "bea@bluebird-dental.test", "Practice manager"),
    "cedar-law.test": ("Carl", "Weiss", "carl@cedar-law.test", "Partner"),
}


# The second client's leads (docs/WORKSPACES.md): two of the same demo sites, other contacts. Another workspace may
# hold the same domains and emails as the first: workspaces never see each other's leads.
SECOND_CLIENT = (
    {"companyName": "Bluebird Dental (second client)", "domain": "bluebird-dental.test",
     "contact": {"firstName": "Ben", "lastName": "Ode", "email": "ben@bluebird-dental.test", "title": "Owner"}},
    {"companyName": "Cedar Law (second client)", "domain": "cedar-law.test",
     "contact": {"firstName": "Cleo", "lastName": "Ward", "email": "cleo@cedar-law.test", "title": "Office manager"}},
)


def seed_second_client_leads(client: httpx.Client, workspace: str) -> int:
    """Creates the second workspace's demo leads unless it has leads already. Returns how many were created."""
    headers = {"X-Workspace": workspace}
    existing = client.get("/api/leads", params={"pageSize": 1}, headers=headers)
    existing.raise_for_status()
    if existing.json()["total"] > 0:
        return 0
    for body in SECOND_CLIENT:
        client.post("/api/leads", json=body, headers=headers).raise_for_status()
    return len(SECOND_CLIENT)


def seed_demo_leads(client: httpx.Client) -> int:
    """Creates the demo leads unless leads already exist. Returns how many were created."""
    existing = client.get("/api/leads", params={"pageSize": 1})
    existing.raise_for_status()
    if existing.json()["total"] > 0:
        return 0
    created = 0
    for site in SITES:
        first, last, email, title = CONTACTS[site.name]
        body = {"companyName": site.company, "domain": site.name,
                "contact": {"firstName": first, "lastName": last, "email": email, "title": title}}
        client.post("/api/leads", json=body).raise_for_status()
        created += 1
    for body in ({"companyName": "Orchard Cafe (no website yet)", "contact": {"firstName": "Olive",
                                                                              "email": "olive@orchard-cafe.test"}},
                 {"companyName": "Imported lead", "domain": "unknown", "contact": {"firstName": "Ian"}}):
        client.post("/api/leads", json=body).raise_for_status()
        created += 1
    return created
