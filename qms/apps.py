from django.apps import AppConfig


class QmsConfig(AppConfig):
    name = "qms"
    verbose_name = "Portal core"

    def ready(self) -> None:
        from django.db.models.signals import pre_save

        from qms.limits import enforce_text_limits

        pre_save.connect(enforce_text_limits, dispatch_uid="qms.limits.enforce_text_limits")
        self._ready_roster()

    def _ready_roster(self) -> None:
        """The on-call coverage gaps ahead, on the QMS coordinator's dashboard."""
        from qms.registry import Block, register_dashboard_widget
        from qms.roster import widgets

        register_dashboard_widget(Block("oncall_gaps", "qms/roster/gaps_widget.html", widgets.gaps_widget, 25))
