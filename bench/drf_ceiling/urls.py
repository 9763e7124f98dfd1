"""One URL: a DRF APIView returning a small dict."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class Ceiling(APIView):
    def get(self, request: Request) -> Response:
        return Response({"id": 1, "subject": "ceiling", "status": "open", "priority": "normal"})


urlpatterns = [path("ceiling/", Ceiling.as_view())]
