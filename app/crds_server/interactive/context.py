from django.conf import settings

import crds_server


def site(request):
    return {
        "observatory": settings.CRDS_OBSERVATORY,
        "use": settings.CRDS_USE,
        "server": settings.CRDS_SERVER,
        "server_version": crds_server.__version__,
    }
