from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "qms.sso"
    label = "sso"
    verbose_name = "Single sign-on"
