from django.apps import AppConfig


class QmsConfig(AppConfig):
    name = "qms"
    verbose_name = "Portal core"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from qms.limits import enforce_text_limits

        pre_save.connect(enforce_text_limits, dispatch_uid="qms.limits.enforce_text_limits")
