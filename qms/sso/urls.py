from django.urls import path

from qms.sso import views

urlpatterns = [
    path("accounts/login/sso/", views.SignInStart.as_view(), name="sso-login"),
    path("accounts/login/sso/callback/", views.SignInCallback.as_view(), name="sso-login-callback"),
    path("accounts/sso/reauth/", views.reauth_start, name="sso-reauth"),
    path("accounts/sso/reauth/callback/", views.reauth_callback, name="sso-reauth-callback"),
]
