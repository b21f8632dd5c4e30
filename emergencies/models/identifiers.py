from django.db import models


class IdentifierCounter(models.Model):
    """How many identifiers were handed out under one base (``CHG-EMG-20261123-0341``…), so the next one is
    one statement away (``emergencies.identifiers``). The row stays locked until the filing commits."""

    base = models.CharField(max_length=64, primary_key=True)
    last = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.base}: {self.last}"
