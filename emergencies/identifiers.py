from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model

MAX_SAME_MINUTE = 99


def save_with_unique_identifier(obj: Model, *, field_name: str, base: str) -> None:
    """Save ``obj`` under ``base``, or ``base-02``, ``base-03``… when that is taken.

    The suffix keeps identifiers distinct when two are made in the same minute while still sorting by
    time. A savepoint per attempt makes this safe under concurrent filing on PostgreSQL.
    """
    model = type(obj)
    taken = model.objects.filter(**{f"{field_name}__startswith": base}).count()
    n = max(taken, 0) + 1
    while n <= MAX_SAME_MINUTE:
        candidate = base if n == 1 else f"{base}-{n:02d}"
        setattr(obj, field_name, candidate)
        try:
            with transaction.atomic():
                obj.save()
            return
        except IntegrityError:
            if not model.objects.filter(**{field_name: candidate}).exists():
                raise
            n += 1
    raise ValidationError(f"More than {MAX_SAME_MINUTE} records were filed in this minute; try again.")
