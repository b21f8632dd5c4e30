"""The war room's form: a responder's log entry, or a correction of one."""

from django import forms


class WarRoomEntryForm(forms.Form):
    """A responder's log line in the war room; a correction names the entry it corrects."""

    kind = forms.ChoiceField(
        choices=[("note", "Note"), ("decision", "Decision"), ("call", "Call"), ("action", "Action")], initial="note"
    )
    text = forms.CharField(
        max_length=4000,
        label="Entry",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "decision: roll back to 4.1"}),
    )
    corrects = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Corrects entry", help_text="Entries are never edited."
    )

    def __init__(self, *args, entries=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["corrects"].choices = [("", "— a new entry —")] + [
            (e.pk, f"#{e.pk} {e.posted_at:%H:%M} UTC {e.get_kind_display()}: {e.text[:60]}") for e in entries
        ]
