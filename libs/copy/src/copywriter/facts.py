"""What the generator knows about the lead (never the audit: that comes as the profile mapping)."""

from __future__ import annotations

from dataclasses import dataclass

from copywriter.sanitise import clean_domain, clean_text


@dataclass(frozen=True)
class LeadFacts:
    company_name: str | None = None
    domain: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    job_title: str | None = None

    def company(self) -> str:
        """How the copy names the company: its name, else its domain, else a neutral phrase."""
        return self.known_company() or "your business"

    def known_company(self) -> str:
        """The company's name or domain, "" when neither is usable."""
        return clean_text(self.company_name, max_len=60) or self.site()

    def site(self) -> str:
        """How the copy names the website: the domain, else "" (callers choose a fallback)."""
        return clean_domain(self.domain)

    def greeting_name(self) -> str:
        """First name for the greeting, "" when missing or unusable (no placeholder is ever emitted)."""
        name = clean_text(self.first_name, max_len=40)
        return "" if "@" in name else name
