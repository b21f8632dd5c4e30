from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from qms import views
from qms.api.tokens import TokenObtain
from qms.people import api as people_api
from qms.people import views as people
from qms.roster import urls as roster_urls
from qms.sso.logout import PortalLogoutView
from qms.views import procedures as procedure_views

qms_patterns = (
    [
        path("", views.dashboard, name="dashboard"),
        path("preferences/", views.preferences, name="preferences"),
        path("users/", views.user_list, name="user-list"),
        path("users/<int:user_id>/", views.user_detail, name="user-detail"),
        path("users/<int:user_id>/unlock-signing/", views.user_signing_unlock, name="user-signing-unlock"),
        path("preferences/tokens/", views.api_token_create_view, name="api-token-create"),
        path("preferences/tokens/<int:token_id>/revoke/", views.api_token_revoke_view, name="api-token-revoke"),
        # people: training that qualifies signers, delegation of a signing role
        path("training/", people.training_matrix_view, name="training-matrix"),
        path("training/record/", people.training_record_view, name="training-record"),
        path("training/import/", people.training_import_view, name="training-import"),
        path("training/<int:record_id>/evidence/", people.training_evidence_view, name="training-evidence"),
        path("preferences/delegations/", people.delegations_view, name="delegations"),
        path(
            "preferences/delegations/<int:delegation_id>/revoke/",
            people.delegation_revoke_view,
            name="delegation-revoke",
        ),
        *procedure_views.urlpatterns,
        *roster_urls.urlpatterns,
    ],
    "qms",
)

urlpatterns = [
    path("", include(qms_patterns)),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", PortalLogoutView.as_view(), name="logout"),
    path("emergencies/", include("emergencies.urls")),
    path("audit/", include("audits.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", TokenObtain.as_view(), name="api-token"),
    path("api/v1/", include("emergencies.api.urls")),
    path("api/v1/", include("audits.api.urls")),
    path("api/v1/training-records/", people_api.TrainingRecords.as_view(), name="api-training-records"),
    path("api/v1/training-records/import/", people_api.TrainingImport.as_view(), name="api-training-import"),
    path("api/v1/delegations/", people_api.Delegations.as_view(), name="api-delegations"),
    path(
        "api/v1/delegations/<int:pk>/revocation/",
        people_api.DelegationRevocation.as_view(),
        name="api-delegation-revocation",
    ),
    path("api/v1/", include(roster_urls.api_urlpatterns)),
    path("integrations/", include("emergencies.urls.integrations")),  # GitHub webhook, alert intake
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("healthz", views.healthz, name="healthz"),
]

from qms import security  # noqa: E402

urlpatterns += [
    path("accounts/2fa/", security.second_factor_setup, name="second-factor-setup"),
    path("accounts/2fa/verify/", security.second_factor_verify, name="second-factor-verify"),
    path("", include("qms.sso.urls")),
]

from qms.api import procedures as procedure_api  # noqa: E402

_DRAFT = "api/v1/procedure-drafts/<int:draft_id>/"
urlpatterns += [
    path("api/v1/procedure-drafts/", procedure_api.ProcedureDraftList.as_view(), name="api-procedure-drafts"),
    path(_DRAFT, procedure_api.ProcedureDraftDetail.as_view(), name="api-procedure-draft"),
    path(_DRAFT + "submission/", procedure_api.ProcedureDraftSubmission.as_view(), name="api-procedure-submission"),
    path(_DRAFT + "signatures/", procedure_api.ProcedureDraftSignatures.as_view(), name="api-procedure-signatures"),
    path(_DRAFT + "return/", procedure_api.ProcedureDraftReturn.as_view(), name="api-procedure-return"),
    path(_DRAFT + "publication/", procedure_api.ProcedureDraftPublication.as_view(), name="api-procedure-publication"),
    path(_DRAFT + "withdrawal/", procedure_api.ProcedureDraftWithdrawal.as_view(), name="api-procedure-withdrawal"),
    path(
        _DRAFT + "schedule-cancellation/",
        procedure_api.ProcedureScheduleCancellation.as_view(),
        name="api-procedure-schedule-cancellation",
    ),
]

handler403 = "qms.errors.permission_denied"
handler404 = "qms.openapi.page_not_found"
