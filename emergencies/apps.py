from django.apps import AppConfig


class EmergenciesConfig(AppConfig):
    name = "emergencies"
    verbose_name = "Emergency lifecycle"

    def ready(self) -> None:
        from emergencies import widgets
        from qms.registry import Block, register_dashboard_widget

        register_dashboard_widget(
            Block("awaiting", "emergencies/includes/awaiting_widget.html", widgets.awaiting_widget, 10)
        )
        register_dashboard_widget(
            Block("my_open", "emergencies/includes/my_open_widget.html", widgets.my_open_widget, 20)
        )
        self._ready_ccb()
        self._ready_patch()
        self._ready_github()
        self._ready_handoffs()

    def _ready_github(self) -> None:
        """A bypass scoped to a pull request is activated on GitHub; its GitHub panel; unauthorised merges."""
        from emergencies import signals
        from emergencies.services import activation
        from emergencies.views import github
        from qms.registry import Block, register_dashboard_widget, register_subject_panel

        def on_activated(sender, *, bypass, at, **kwargs):
            activation.github_bypass_activate(bypass=bypass, at=at)

        signals.bypass_activated.connect(on_activated, weak=False, dispatch_uid="emergencies.github.activate")
        register_subject_panel(
            "emergencies.BypassRequest", Block("github", "emergencies/github/bypass_panel.html", github.bypass_panel, 5)
        )
        register_dashboard_widget(
            Block("github_findings", "emergencies/github/findings_widget.html", github.findings_widget, 15)
        )

    def _ready_handoffs(self) -> None:
        """Steps asked of the next person: on their dashboard first, and on the record they concern."""
        from emergencies import widgets
        from emergencies.services import handoffs
        from qms.registry import Block, register_dashboard_widget, register_subject_panel

        handoffs.connect_receivers()
        register_dashboard_widget(
            Block("waiting_for_you", "emergencies/includes/waiting_widget.html", widgets.waiting_for_you_widget, 5)
        )
        register_subject_panel(
            "emergencies.ChangeRecord",
            Block("handoffs", "emergencies/includes/handoffs_panel.html", widgets.handoff_change_panel, 3),
        )
        for model in ("emergencies.BypassRequest", "emergencies.CCBSession"):
            register_subject_panel(
                model, Block("handoffs", "emergencies/includes/handoffs_panel.html", widgets.handoff_subject_panel, 3)
            )

    def _ready_patch(self) -> None:
        """The patch package's configuration audit and follow-up documents are closure conditions."""
        from emergencies.services import patches, postincident

        if patches.patch_closure_problems not in postincident.CLOSURE_HOOKS:
            postincident.CLOSURE_HOOKS.append(patches.patch_closure_problems)

    def _ready_ccb(self) -> None:
        """The emergency CCB: its panel on a change's page, the sessions awaiting your vote on the dashboard,
        and Gate 4 as a closure condition of changes whose procedure has a CCB."""
        from emergencies.services import gates, postincident
        from emergencies.widgets import ccb as widgets_ccb
        from qms.registry import Block, register_dashboard_widget, register_subject_panel

        register_subject_panel(
            "emergencies.ChangeRecord",
            Block("ccb", "emergencies/ccb/includes/change_panel.html", widgets_ccb.change_panel, 5),
        )
        register_dashboard_widget(
            Block("ccb_awaiting", "emergencies/ccb/includes/awaiting_widget.html", widgets_ccb.awaiting_vote_widget, 12)
        )
        if gates.ccb_closure_problems not in postincident.CLOSURE_HOOKS:
            postincident.CLOSURE_HOOKS.append(gates.ccb_closure_problems)
