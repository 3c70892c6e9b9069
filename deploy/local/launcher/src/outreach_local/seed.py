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
