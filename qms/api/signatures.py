"""The signatures a record carries, as the API shows them, and the body of a signing request (password,
role, comment): shared by every API that signs (emergencies, patch packages, post-mortems, procedure drafts)."""

from __future__ import annotations

from rest_framework import serializers

from qms.limits import COMMENT_MAX
from qms.models import Signature
from qms.roles import Role


class SignatureSerializer(serializers.ModelSerializer):
    signer = serializers.CharField(source="signer.username", read_only=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True, default=None, allow_null=True)
    on_behalf_of = serializers.CharField(
        source="on_behalf_of.username",
        read_only=True,
        default=None,
        allow_null=True,
        help_text="A delegate's delegator.",
    )

    class Meta:
        model = Signature
        fields = [
            "id",
            "signer",
            "signer_name",
            "on_behalf_of",
            "on_behalf_of_name",
            "training_deviation",
            "role",
            "meaning",
            "method",
            "recorded_by",
            "approved_at",
            "signed_at",
            "comment",
            "content_hash",
        ]
        read_only_fields = fields


class SignInputSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    role = serializers.ChoiceField(choices=[r.value for r in Role])
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=COMMENT_MAX)
