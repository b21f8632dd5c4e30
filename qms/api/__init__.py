"""The API's common layer: request parsing and limits (``parsing``), problem-details errors and a service's
errors as the API's (``problems``), the signature serializers (``signatures``) and response examples
(``examples``)."""
