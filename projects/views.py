"""Pages of the projects app: dashboard, project switcher, settings, members and access keys.

Each view parses a form, calls one service and redirects or re-renders. The project comes from
`request.project` (projects.middleware); `project_required` enforces roles.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from engage.webhooks import project_secret
from projects.forms import (
    AccessKeyCreateForm,
    ApplicationSettingsForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectCreateForm,
    ProjectDeleteForm,
    ProjectRenameForm,
    ProjectSwitchForm,
    add_service_errors,
)
from projects.middleware import current_project_choose, project_required
from projects.models import WRITE_ROLES, Role
from projects.services import (
    access_key_create,
    access_key_revoke,
    application_settings_for,
    application_settings_update,
    membership_add,
    membership_remove,
    membership_set,
    project_create,
    project_delete,
    project_rename,
)


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(name=form.cleaned_data["name"], owner=request.user)
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            current_project_choose(request, project)
            messages.success(request, f"Project “{project.name}” created. You are its owner.")
            return redirect("dashboard")
    return render(request, "projects/project_new.html", {"create_form": form})


@login_required
@require_POST
def project_switch(request: HttpRequest) -> HttpResponse:
    form = ProjectSwitchForm(request.POST, user=request.user)
    if form.is_valid():
        current_project_choose(request, form.cleaned_data["project"])
    else:
        messages.error(request, "That project does not exist or you are not a member of it.")
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(next_url)
    return redirect("dashboard")


def _settings_page(request: HttpRequest, **forms) -> HttpResponse:
    project = request.project
    current = application_settings_for(project)
    can_write = project.role in WRITE_ROLES
    is_owner = project.role == Role.OWNER
    context = {
        "project": project,
        "app_settings": current,
        "can_write": can_write,
        "is_owner": is_owner,
        "memberships": project.memberships.select_related("user").order_by("user__username"),
        "roles": Role.choices,
    }
    if can_write:
        context["rename_form"] = forms.get("rename_form") or ProjectRenameForm(initial={"name": project.name})
        context["settings_form"] = forms.get("settings_form") or ApplicationSettingsForm.for_settings(current)
        context["webhook_secret"] = project_secret(project.pk)
    if is_owner:
        context["member_form"] = forms.get("member_form") or MemberAddForm(project=project)
    return render(request, "projects/settings.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@project_required
def project_settings(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _settings_page(request)
    form = ApplicationSettingsForm(request.POST)
    if form.is_valid():
        try:
            application_settings_update(request.project, form.change())
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("project_settings")
    return _settings_page(request, settings_form=form)


@login_required
@require_POST
@project_required
def project_rename_view(request: HttpRequest) -> HttpResponse:
    form = ProjectRenameForm(request.POST)
    if form.is_valid():
        try:
            project_rename(request.project, name=form.cleaned_data["name"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Project renamed.")
            return redirect("project_settings")
    return _settings_page(request, rename_form=form)


@login_required
@require_http_methods(["GET", "POST"])
@project_required(owner=True)
def project_delete_view(request: HttpRequest) -> HttpResponse:
    project = request.project
    form = ProjectDeleteForm(request.POST if request.method == "POST" else None, project=project)
    if request.method == "POST" and form.is_valid():
        name = project.name
        project_delete(project)
        current_project_choose(request, None)
        messages.success(request, f"Project “{name}” and everything in it was deleted.")
        return redirect("dashboard")
    return render(request, "projects/project_delete.html", {"project": project, "form": form})


@login_required
@require_POST
@project_required(owner=True)
def member_add(request: HttpRequest) -> HttpResponse:
    form = MemberAddForm(request.POST, project=request.project)
    if form.is_valid():
        try:
            membership_add(request.project, user=form.cleaned_data["username"], role=form.cleaned_data["role"])
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"{form.cleaned_data['username'].get_username()} was added.")
            return redirect("project_settings")
    return _settings_page(request, member_form=form)


@login_required
@require_POST
@project_required(owner=True)
def member_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(request.project.memberships.select_related("user"), pk=membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose owner, editor or viewer.")
        return redirect("project_settings")
    try:
        membership_set(request.project, user=membership.user, role=form.cleaned_data["role"])
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{membership.user.get_username()} is now {form.cleaned_data['role']}.")
    return redirect("project_settings")


@login_required
@require_POST
@project_required(owner=True)
def member_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_object_or_404(request.project.memberships.select_related("user"), pk=membership_id)
    try:
        membership_remove(membership)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("project_settings")
    if membership.user_id == request.user.pk:
        messages.success(request, f"You left “{request.project.name}”.")
        return redirect("dashboard")
    messages.success(request, f"{membership.user.get_username()} was removed from the project.")
    return redirect("project_settings")


@login_required
@require_http_methods(["GET", "POST"])
@never_cache
def access_keys(request: HttpRequest) -> HttpResponse:
    form = AccessKeyCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        issued = access_key_create(request.user, description=form.cleaned_data["description"])
        # The secret exists in plain text only in this response: no redirect, nothing in the session.
        return render(request, "projects/access_key_created.html", {"issued": issued})
    keys = request.user.access_keys.all()
    return render(request, "projects/access_keys.html", {"form": form, "keys": keys})


@login_required
@require_POST
def access_key_revoke_view(request: HttpRequest, access_key_id: str) -> HttpResponse:
    key = get_object_or_404(request.user.access_keys, access_key_id=access_key_id)
    access_key_revoke(key)
    messages.success(request, f"Access key {key.access_key_id} is revoked; requests signed with it now fail.")
    return redirect("access_keys")
