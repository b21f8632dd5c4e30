from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "audits"
    verbose_name = "Oversight: audit trail and obligations"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from audits import panels, receivers  # noqa: F401
        from audits.append_only import protect_history_tables
        from qms.registry import Block, register_dashboard_widget, register_subject_panel

        for model in ("emergencies.ChangeRecord", "emergencies.BypassRequest"):
            register_subject_panel(model, Block("clocks", "audits/includes/clocks_panel.html", panels.clocks_panel, 10))
            register_subject_panel(
                model, Block("audit_trail", "audits/includes/audit_trail_panel.html", panels.audit_trail_panel, 90)
            )
        # The emergency CCB: a session's vote and decision clocks on its page.
        register_subject_panel(
            "emergencies.CCBSession", Block("clocks", "audits/includes/clocks_panel.html", panels.clocks_panel, 10)
        )
        # The war room of an emergency shows the trail's decisions (transitions, signatures, votes, escalations).
        from audits.selectors import war_room_audit_rows
        from qms.registry import register_timeline_source

        register_timeline_source("audit_trail", war_room_audit_rows)
        register_dashboard_widget(Block("overdue", "audits/includes/overdue_widget.html", panels.overdue_widget, 30))
        # After every migrate (and flush): history tables created since the audits migrations ran are
        # made append-only too.
        post_migrate.connect(protect_history_tables, sender=self, dispatch_uid="audits.protect_history_tables")
        # The Celery tasks register with the app in every process, not only in a worker that discovers them, so
        # the code below them can name a task it does not import (``audits.escalation.fanout.BATCHES_TASK``).
        import audits.tasks  # noqa: F401
