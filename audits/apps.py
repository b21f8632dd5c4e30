from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Oversight: audit trail and obligations"

    def ready(self) -> None:
        from audits import panels, receivers  # noqa: F401
        from qms.registry import Block, register_dashboard_widget, register_subject_panel

        register_subject_panel(
            "emergencies.ChangeRecord", Block("clocks", "audits/includes/clocks_panel.html", panels.clocks_panel, 10)
        )
        register_subject_panel(
            "emergencies.ChangeRecord",
            Block("audit_trail", "audits/includes/audit_trail_panel.html", panels.audit_trail_panel, 90),
        )
        register_dashboard_widget(Block("overdue", "audits/includes/overdue_widget.html", panels.overdue_widget, 30))
