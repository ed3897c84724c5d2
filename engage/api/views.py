"""The last route under /v1/: operations Engage has not built, and unknown routes."""

from rest_framework.request import Request
from rest_framework.views import APIView

from engage.api import operations
from engage.api.errors import MethodNotAllowed, NotFound


class UnroutedView(APIView):
    """Authenticated like every operation, then says clearly why nothing answered."""

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        message = operations.method_not_allowed_message(request.method, request.path_info)
        if message:
            raise MethodNotAllowed(message)
        raise NotFound(f"No Pinpoint resource matches {request.method} {request.path_info}.")

    def http_method_not_allowed(self, request: Request, *args, **kwargs):
        raise NotFound()  # not reached: initial() always raises

    get = post = put = patch = delete = head = options = http_method_not_allowed
