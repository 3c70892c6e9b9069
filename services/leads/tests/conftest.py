"""Leads tests: the service with its consumers and relay in-process, on real PostgreSQL and Kafka, with the
PlusVibe simulator on loopback. Helpers live in leads_testkit.py (a unique module name: several test trees
have a conftest)."""

from leads_testkit import harness, module_topic_prefix, sim, sim_server, two_workspaces

__all__ = ["harness", "module_topic_prefix", "sim", "sim_server", "two_workspaces"]
