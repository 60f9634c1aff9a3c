"""The server's cron jobs: lock, log, mail, and the jobs' own work.

Each job is a management command (``monitor_reprocessing``, ``nightly_diagnostics``,
``sync_ops_to_grp``, ``backup_server``, the locking app's ``clear_expired_locks``);
``manage.py cron_job <job>`` runs one under :func:`runner.run_job`: an flock against
overlapping runs, a log under the site config's logs dir, a non-zero exit and a mail to
MAILTO on failure.  The scripts under ``${CRDS}/CRDS_server/host`` only call that.
"""

JOBS = {
    # job name (crontab / script name) -> management command
    "nightly": "nightly_diagnostics",
    "backup": "backup_server",
    "monitor_reprocessing": "monitor_reprocessing",
    "clear_expired_locks": "clear_expired_locks",
    "track_deliveries": "track_deliveries",
    "sync_ops_to_grp": "sync_ops_to_grp",
}
