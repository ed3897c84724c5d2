from django.contrib.auth import get_user_model
from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from projects.models import Membership, Project


class ProjectResource(resources.ModelResource):
    class Meta:
        model = Project
        fields = ["id", "name", "creation_date", "tags"]
        import_id_fields = ["id"]
        skip_unchanged = True


class MembershipResource(resources.ModelResource):
    project = fields.Field(attribute="project", column_name="project", widget=ForeignKeyWidget(Project, "id"))
    user = fields.Field(attribute="user", column_name="user", widget=ForeignKeyWidget(get_user_model(), "username"))

    class Meta:
        model = Membership
        fields = ["project", "user", "role"]
        import_id_fields = ["project", "user"]
        skip_unchanged = True
