"""The web pages: sign-in, the agent dashboard, a ticket, reports, and the customer portal.

Pages are server-rendered shells; their script (``frontend/``, bundled by esbuild into
``static/dashboard/build/``) reads the REST API with the session and listens to realtime. What
the script needs that the API does not serve (who is signed in, the staff directory, queues,
statuses and their transitions) is in the page as a ``<script type="application/json">``
block, which the gateway's CSP (``script-src 'self'``) allows because it is never executed.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from helpdesk.accounts.models import Role, User
from helpdesk.common.ratelimit import login_check
from helpdesk.tickets.models import ALLOWED_TRANSITIONS, Priority, SavedView, Status
from helpdesk.tickets.selectors import queues_for, ticket_list_visible

Page = Callable[..., HttpResponse]


def _home(user: User) -> str:
    return reverse("dashboard:portal" if user.role == Role.CUSTOMER else "dashboard:agent")


def _me(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "name": user.full_name or user.email,
        "email": user.email,
        "role": user.role,
        "organization": user.organization.name if user.organization else "",
    }


def _page(request: HttpRequest, template: str, page: str, data: dict[str, Any]) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    return render(
        request,
        template,
        {"page": page, "me": _me(user), "data": {"page": page, "me": _me(user), **data}},
    )


def _signed_in(*roles: str) -> Callable[[Page], Page]:
    """Sign-in required (else the sign-in page, then back); people of other roles are sent
    to their own home (customers to the portal, staff to the dashboard)."""

    def decorate(view: Page) -> Page:
        @wraps(view)
        @never_cache
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                login_url = reverse("dashboard:login")
                return HttpResponseRedirect(f"{login_url}?next={request.get_full_path()}")
            assert isinstance(user, User)
            if user.role == Role.BOT or user.organization_id is None:
                logout(request)
                return HttpResponseRedirect(reverse("dashboard:login"))
            if user.role not in roles:
                return HttpResponseRedirect(_home(user))
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


_staff = _signed_in(Role.ADMIN, Role.AGENT)
_customer = _signed_in(Role.CUSTOMER)


def _directory(user: User) -> dict[str, Any]:
    """What staff pages share: the organization's agents, queues, statuses and priorities."""
    staff = User.objects.filter(
        organization_id=user.organization_id or 0,
        role__in=[Role.AGENT, Role.ADMIN],
        is_active=True,
    ).order_by("full_name", "email")
    queues = list(queues_for(user=user))
    categories = sorted({c for q in queues for c in (q.categories or [])})
    return {
        "staff": [{"id": u.pk, "name": u.full_name or u.email} for u in staff],
        "queues": [{"id": q.pk, "name": q.name} for q in queues],
        "statuses": [{"value": v, "label": str(label)} for v, label in Status.choices],
        "priorities": [{"value": v, "label": str(label)} for v, label in Priority.choices],
        "transitions": {k: sorted(v) for k, v in ALLOWED_TRANSITIONS.items()},
        "categories": categories,
    }


# --- Signing in and out ------------------------------------------------------------------------


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_page(request: HttpRequest) -> HttpResponse:
    """Django's session sign-in, with the API's rate limit (per address and per account)."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ) or not next_url.startswith("/app/"):
        next_url = ""
    if request.user.is_authenticated and request.method == "GET":
        return HttpResponseRedirect(next_url or _home(request.user))
    error, email, status = "", "", 200
    if request.method == "POST":
        email = request.POST.get("email", "").strip()[:254]
        password = request.POST.get("password", "")[:200]
        verdict = login_check(request, email) if email else None
        if verdict is not None and not verdict.allowed:
            error, status = "Too many sign-in attempts. Wait a minute and try again.", 429
        elif not email or not password:
            error, status = "Enter your email address and your password.", 400
        else:
            user = authenticate(request, username=email.lower(), password=password)
            if not isinstance(user, User) or user.organization_id is None or user.role == Role.BOT:
                error, status = "The email or the password is wrong.", 401
            else:
                login(request, user)
                return HttpResponseRedirect(next_url or _home(user))
    response = render(
        request,
        "dashboard/login.html",
        {"error": error, "email": email, "next": next_url, "page": "login"},
        status=status,
    )
    if status == 429 and verdict is not None:
        response["Retry-After"] = str(max(1, verdict.reset_seconds))
    return response


@require_POST
def logout_page(request: HttpRequest) -> HttpResponse:
    logout(request)
    return HttpResponseRedirect(reverse("dashboard:login"))


# --- Staff pages -------------------------------------------------------------------------------


@_staff
def agent_dashboard(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    views = SavedView.objects.filter(user=user).order_by("name")
    return _page(
        request,
        "dashboard/agent.html",
        "agent",
        {
            **_directory(user),
            "views": [{"id": v.pk, "name": v.name, "filters": v.filters} for v in views],
        },
    )


@_staff
def ticket_page(request: HttpRequest, number: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    ticket = ticket_list_visible(user=user).filter(number=number).values("id", "subject").first()
    if ticket is None:
        raise Http404
    return _page(
        request,
        "dashboard/ticket.html",
        "ticket",
        {**_directory(user), "ticket": {"id": ticket["id"], "number": number}},
    )


@_staff
def reports_page(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    return _page(request, "dashboard/reports.html", "reports", _directory(user))


# --- The customer portal -------------------------------------------------------------------------


@_customer
def portal(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        "dashboard/portal.html",
        "portal",
        {"priorities": [{"value": v, "label": str(label)} for v, label in Priority.choices]},
    )


@_customer
def portal_ticket(request: HttpRequest, number: int) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    ticket = ticket_list_visible(user=user).filter(number=number).values("id").first()
    if ticket is None:
        raise Http404
    return _page(
        request,
        "dashboard/portal_ticket.html",
        "portal-ticket",
        {"ticket": {"id": ticket["id"], "number": number}},
    )
