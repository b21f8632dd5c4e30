from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from emergencies.views import alerts as alert_views
from qms import views
from qms.api.tokens import TokenObtain
from qms.roster import urls as roster_urls

qms_patterns = (
    [
        path("", views.dashboard, name="dashboard"),
        path("preferences/", views.preferences, name="preferences"),
        path("users/", views.user_list, name="user-list"),
        path("users/<int:user_id>/", views.user_detail, name="user-detail"),
        path("users/<int:user_id>/unlock-signing/", views.user_signing_unlock, name="user-signing-unlock"),
        path("preferences/tokens/", views.api_token_create_view, name="api-token-create"),
        path("preferences/tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
        *roster_urls.urlpatterns,
    ],
    "qms",
)

urlpatterns = [
    path("", include(qms_patterns)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("emergencies/", include("emergencies.urls")),
    path("audit/", include("audits.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", TokenObtain.as_view(), name="api-token"),
    path("api/v1/", include("emergencies.api.urls")),
    path("api/v1/", include("qms.roster.api_urls")),
    path("integrations/", include("emergencies.webhook_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("healthz", views.healthz, name="healthz"),
    path("integrations/alerts/<slug:source>/", alert_views.alert_intake, name="alert-intake"),
]

from qms import security  # noqa: E402

urlpatterns += [
    path("accounts/2fa/", security.second_factor_setup, name="second-factor-setup"),
    path("accounts/2fa/verify/", security.second_factor_verify, name="second-factor-verify"),
]

handler403 = "qms.errors.permission_denied"
handler404 = "qms.openapi.page_not_found"
