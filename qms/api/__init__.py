"""The API's common layer: request parsing and limits (``parsing``), problem-details errors (``problems``)."""
