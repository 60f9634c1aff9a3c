"""Invoke tasks for the CRDS fleet: `invoke --list` shows them.

Thin by rule: each task parses its arguments, confirms destructive work, calls
the shared logic in fleet/ (or a playbook, or Fabric) and reports. Hosts come
from the Ansible inventory (`--inventory` or $CRDS_INVENTORY; the real fleet by
default), never from a second list.
"""

from invoke import Collection

from fleet.cli import cron, lab, ops, server

ns = Collection()
ns.add_collection(Collection.from_module(lab), name="lab")
for _task in server.TASKS:
    ns.add_task(_task)
for _task in ops.TASKS:
    ns.add_task(_task)
ns.add_collection(cron.ns, name="cron")
for _task in cron.TASKS:
    ns.add_task(_task)
