"""Input validation for the patch package page; the services decide everything else."""

from django import forms

from emergencies.models.patches import PatchArtifact, PatchPackage, UnitDistribution
from emergencies.services.patches import APPROVER_ROLES, UNIT_EVENT_KINDS

WHEN = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
HASH_ATTRS = {"class": "hash-input", "spellcheck": "false", "autocomplete": "off", "placeholder": "64 hex characters"}


class PackageTextsForm(forms.ModelForm):
    class Meta:
        model = PatchPackage
        fields = PatchPackage.TEXT_FIELDS
        widgets = {name: forms.Textarea(attrs={"rows": 4}) for name in PatchPackage.TEXT_FIELDS}


class ArtifactUploadForm(forms.Form):
    file = forms.FileField(label="File")
    kind = forms.ChoiceField(choices=PatchArtifact.Kind.choices, initial=PatchArtifact.Kind.PATCH)
    expected_sha256 = forms.CharField(
        required=False,
        max_length=100,
        label="Expected SHA-256 (optional)",
        help_text="The hash your build printed; the upload is refused if it differs.",
        widget=forms.TextInput(attrs=HASH_ATTRS),
    )


class ArtifactEnterForm(forms.Form):
    filename = forms.CharField(max_length=255, label="File name")
    sha256 = forms.CharField(max_length=100, label="SHA-256", widget=forms.TextInput(attrs=HASH_ATTRS))
    kind = forms.ChoiceField(choices=PatchArtifact.Kind.choices, initial=PatchArtifact.Kind.PATCH)
    size = forms.IntegerField(required=False, min_value=0, label="Size (bytes)")
    location = forms.CharField(
        required=False, max_length=500, label="Where the file is kept", help_text="Repository URL, media label…"
    )


class ArtifactVerifyForm(forms.Form):
    """Either the file (its hash is computed) or the hash re-entered by a second person."""

    file = forms.FileField(required=False, label="Upload the file")
    sha256 = forms.CharField(
        required=False,
        max_length=100,
        label="…or re-enter the SHA-256 from your own source",
        widget=forms.TextInput(attrs=HASH_ATTRS),
    )

    def clean(self):
        data = super().clean()
        if bool(data.get("file")) == bool((data.get("sha256") or "").strip()):
            raise forms.ValidationError("Upload the file or re-enter the hash (one of the two).")
        return data


class ApproveForm(forms.Form):
    role = forms.ChoiceField(label="Signing as")
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    comment = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, roles=APPROVER_ROLES, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in roles]


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class UnitAddForm(forms.Form):
    serial_number = forms.CharField(max_length=100, label="Serial number")
    description = forms.CharField(required=False, max_length=200, label="Unit")


class UnitEventForm(forms.Form):
    kind = forms.ChoiceField(choices=list(UNIT_EVENT_KINDS.items()), label="What happened")
    occurred_at = forms.DateTimeField(required=False, label="When", widget=WHEN, help_text="Empty: now.")
    channel = forms.ChoiceField(
        required=False, choices=[("", "—"), *UnitDistribution.Channel.choices], label="Channel (sent)"
    )
    acknowledged_by = forms.CharField(required=False, max_length=200, label="Acknowledged by (operator)")
    reported_hash = forms.CharField(
        required=False,
        max_length=100,
        label="Hash the unit reports as deployed",
        widget=forms.TextInput(attrs=HASH_ATTRS),
    )
    artifact = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Patch file installed")
    detail = forms.CharField(required=False, max_length=4000, label="Notes", widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, artifact_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["artifact"].choices = [("", "—"), *artifact_choices]


class FollowUpForm(forms.Form):
    evidence = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
    reference = forms.CharField(required=False, max_length=300, label="Document number or link")
