"""Operations on the CRDS servers: backup, restore, mirror, deploy, service, status."""
