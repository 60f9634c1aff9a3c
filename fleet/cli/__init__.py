"""Invoke task modules, thin by rule: parse, confirm, call fleet or Ansible, report.

tasks.py at the repository root composes them into the `invoke` namespace.
"""
