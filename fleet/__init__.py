"""Shared logic of the CRDS fleet suite: inventory, lab, operations.

`tasks.py` stays thin and calls into this package; nothing here keeps a second
list of hosts: everything is read from the Ansible inventory.
"""
