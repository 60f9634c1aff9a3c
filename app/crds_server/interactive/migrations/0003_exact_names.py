"""File names and contexts compare byte for byte.

MariaDB's default collation (utf8mb4_unicode_ci / _general_ci) matches names without
regard to case and ignores some invisible characters: HST_0005.PMAP found hst_0005.pmap.
The binary collation makes a lookup match the exact name or nothing; existing catalogs are
converted in place (the unique index is rebuilt). SQLite (the tests' and the `django` use
case's database) compares bytes already, so nothing is done there."""

from django.db import migrations

COLUMNS = (("interactive_file", "name", "NOT NULL"),
           ("interactive_contexthistory", "context", "NOT NULL"))


def _collate(collation: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "mysql":
            return
        for table, column, null in COLUMNS:
            schema_editor.execute(
                f"ALTER TABLE {table} MODIFY {column} varchar(128) "
                f"CHARACTER SET utf8mb4 COLLATE {collation} {null}")
    return run


class Migration(migrations.Migration):
    # MariaDB cannot roll DDL back: Django refuses it inside the migration's transaction.
    atomic = False

    dependencies = [
        ("interactive", "0002_marked_bad"),
    ]

    operations = [
        migrations.RunPython(_collate("utf8mb4_bin"), _collate("utf8mb4_unicode_ci")),
    ]
