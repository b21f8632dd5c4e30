"""API tokens: the anonymous exchange of a username and password for a token."""

from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings


class TokenObtain(ObtainAuthToken):
    """POST a username and password, get a token (``Authorization: Token …``)."""

    # The project's parsers, with their limits, not DRF's defaults for this view.
    parser_classes = api_settings.DEFAULT_PARSER_CLASSES
