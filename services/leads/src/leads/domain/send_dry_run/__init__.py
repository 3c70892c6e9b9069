"""The readiness guard's dry run of PlusVibe's send (docs/TEMPLATES.md).

`merge_tags` parses PlusVibe's `{{ }}` tags, `liquid_pass` evaluates Liquid `{% %}` tags with python-liquid,
`evaluate` renders one template against one rendering context and reports every placeholder that can render
empty, `campaign` runs that over every step × variation × part of a campaign.
"""
