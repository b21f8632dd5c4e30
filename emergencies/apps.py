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
