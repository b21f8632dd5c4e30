"""GitHub in the portal: the webhook receiver, a pull request's page with its failing required checks, the
bypass request prefilled from it, and the GitHub panel of a bypass."""

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from emergencies import permissions
from emergencies.forms import BypassRequestForm
from emergencies.models.github import (
    FAILING,
    GitHubBypassScope,
    GitHubCall,
    GitHubCommitCheck,
    GitHubFinding,
    GitHubPullRequest,
)
from emergencies.services import bypasses as bypass_services
from emergencies.services import github as services
from emergencies.views.bypasses import _level_preview
from qms.forms.base import form_data
from qms.roles import Role
from qms.views.submission import form_submit

MAX_WEBHOOK_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB


@csrf_exempt
@require_POST
def webhook(request):
    """``POST /integrations/github/webhook``: verified, stored, answered; the worker handles it."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_WEBHOOK_BYTES:
        return JsonResponse({"detail": "Payload too large."}, status=413)
    try:
        delivery = services.github_delivery_receive(
            delivery_id=request.headers.get("X-GitHub-Delivery", ""),
            event=request.headers.get("X-GitHub-Event", ""),
            signature=request.headers.get("X-Hub-Signature-256", ""),
            body=request.body,
        )
    except services.WebhookRefused as exc:
        return JsonResponse({"detail": exc.message}, status=exc.status)
    if delivery is None:
        return JsonResponse({"detail": "pong"})
    return JsonResponse({"delivery": delivery.delivery_id, "stored": True}, status=202)


def _pull(repository_id: int, number: int, user) -> GitHubPullRequest:
    if not permissions.can_view_changes(user):
        raise Http404("No such pull request.")
    return get_object_or_404(
        GitHubPullRequest.objects.select_related("repository"), repository_id=repository_id, number=number
    )


@require_GET
def pull_detail(request, repository_id: int, number: int):
    pull = _pull(repository_id, number, request.user)
    checks = list(GitHubCommitCheck.objects.filter(repository=pull.repository, sha=pull.head_sha).order_by("name"))
    required = pull.repository.required_checks
    failing = services.github_pull_failing_checks(pull)
    scopes = list(GitHubBypassScope.objects.filter(pull=pull).select_related("bypass").order_by("-pk"))
    covered = any(s.head_sha == pull.head_sha and s.bypass.status in ("pending", "active") for s in scopes)
    context = {
        "pull": pull,
        "checks": checks,
        "required": required,
        "failing": failing,
        "scopes": scopes,
        "covered": covered,
        "can_request": bool(failing) and pull.state == "open" and bypass_services.can_request_bypass(request.user),
    }
    return render(request, "emergencies/github/pull_detail.html", context)


def pull_bypass_create(request, repository_id: int, number: int):
    pull = _pull(repository_id, number, request.user)
    if not bypass_services.can_request_bypass(request.user):
        raise PermissionDenied("Your roles do not allow requesting bypasses.")
    failing = services.github_pull_failing_checks(pull)
    initial = {
        "repository": pull.repository.full_name,
        "pull_request": f"#{pull.number}",
        "checks": [key for _name, key in failing],
    }
    form = BypassRequestForm(form_data(request), initial=initial, procedure_code=pull.repository.procedure_code)
    head_sha = request.POST.get("head_sha", "") if request.method == "POST" else pull.head_sha
    submitted = form_submit(
        request,
        form,
        lambda form: services.github_bypass_request_create(
            pull_id=pull.pk, head_sha=head_sha, data=form.to_input(), actor=request.user
        ),
        lambda bypass: f"{bypass.identifier} requested for {pull} at {head_sha[:7]}. The signers have been notified.",
    )
    if submitted:
        return redirect(submitted.result)
    context = {"form": form, "preview": _level_preview(form), "github_pull": pull, "head_sha": head_sha}
    return render(request, "emergencies/bypassrequest_form.html", context, status=400 if form.errors else 200)


def bypass_panel(request, bypass) -> dict:
    """The GitHub side of a bypass on its page: scope, what is (not yet) on GitHub, merge, revert, evidence."""
    scope = GitHubBypassScope.objects.select_related("repository", "pull").filter(bypass=bypass).first()
    if scope is None:
        return {"scope": None}
    calls = list(GitHubCall.objects.filter(bypass=bypass).order_by("created_at", "pk"))
    evidence = []
    if scope.granted_at:
        evidence = list(
            GitHubCommitCheck.objects.filter(
                repository=scope.repository,
                name__in=scope.checks,
                conclusion="success",
                on_default_branch=True,
                updated_at__gte=scope.granted_at,
            ).order_by("-updated_at")[:20]
        )
    issues = {c.params.get("check"): c for c in calls if c.kind == GitHubCall.Kind.ISSUE}
    return {
        "scope": scope,
        "calls": calls,
        "not_yet": [c for c in calls if c.state != GitHubCall.State.DELIVERED],
        "issues": issues,
        "evidence": evidence,
    }


def findings_widget(request) -> dict:
    """Unauthorised merges for oversight; open pull requests whose required checks fail, for requesters."""
    user = request.user
    findings, failing = [], []
    if user.has_role(Role.QMS, Role.AUDITOR, Role.QUALITY, Role.EXECUTIVE, Role.LEAD, Role.SECURITY):
        findings = list(GitHubFinding.objects.select_related("repository", "pull").order_by("-detected_at")[:10])
    if bypass_services.can_request_bypass(user):
        failed = GitHubCommitCheck.objects.filter(
            repository=OuterRef("repository"), sha=OuterRef("head_sha"), conclusion__in=FAILING
        )
        covered = GitHubBypassScope.objects.filter(pull=OuterRef("pk"), head_sha=OuterRef("head_sha"))
        pulls = list(
            GitHubPullRequest.objects.filter(Exists(failed), state="open")
            .exclude(Exists(covered))
            .select_related("repository")
            .order_by("-updated_at")[:10]
        )
        checks = GitHubCommitCheck.objects.filter(sha__in=[p.head_sha for p in pulls], conclusion__in=FAILING)
        by_commit: dict = {}
        for check in checks:
            by_commit.setdefault((check.repository_id, check.sha), []).append(check.name)
        for pull in pulls:
            names = [
                n
                for n in by_commit.get((pull.repository_id, pull.head_sha), [])
                if n in pull.repository.required_checks
            ]
            if names:
                failing.append((pull, sorted(names)))
    return {"findings": findings, "failing": failing}
