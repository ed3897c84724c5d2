from django.urls import path

from campaigns import template_pages

# Template names hold only letters, digits, _ and -, so they sit in a path segment as they are.
urlpatterns = [
    path("templates/", template_pages.template_list, name="templates"),
    path("templates/new/<str:type_slug>/", template_pages.template_new, name="template_new"),
    path("templates/preview/<str:type_slug>/", template_pages.template_preview, name="template_preview"),
    path("templates/<str:type_slug>/<str:name>/", template_pages.template_edit, name="template_edit"),
    path("templates/<str:type_slug>/<str:name>/versions/", template_pages.template_history, name="template_history"),
    path(
        "templates/<str:type_slug>/<str:name>/test-send/", template_pages.template_test_send, name="template_test_send"
    ),
    path("templates/<str:type_slug>/<str:name>/delete/", template_pages.template_delete_page, name="template_delete"),
]
